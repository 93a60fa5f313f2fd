import { sdk } from './sdk'

export const actions = sdk.Actions.of()
