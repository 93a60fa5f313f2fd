#![no_main]
//! Client→relay and relay→client frames: parsing never panics; parsed EVENT/REQ/CLOSE frames
//! rebuild to frames that parse to the same message.
use frostbox::relay::proto::{self, ClientMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = proto::parse_relay(s);
    match proto::parse_client(s) {
        Ok(ClientMessage::Event(e)) => {
            assert_eq!(
                proto::parse_client(&proto::client_event_msg(&e)),
                Ok(ClientMessage::Event(e))
            );
        }
        Ok(ClientMessage::Req { sub_id, filters }) => {
            let again = proto::parse_client(&proto::client_req_msg(&sub_id, &filters));
            assert_eq!(again, Ok(ClientMessage::Req { sub_id, filters }));
        }
        Ok(ClientMessage::Close(id)) => {
            assert_eq!(
                proto::parse_client(&proto::client_close_msg(&id)),
                Ok(ClientMessage::Close(id))
            );
        }
        _ => {}
    }
});
