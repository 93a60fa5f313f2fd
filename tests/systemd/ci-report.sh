#!/bin/sh
# Runs inside the nspawn container (see ci/steps/72-systemd-nspawn.sh).
n=0
while [ $n -lt 90 ]; do
  r=$(systemctl show -p NRestarts --value frostbox-hang.service)
  a=$(systemctl show -p ActiveState --value frostbox.service)
  [ "${r:-0}" -ge 2 ] && [ "$a" = active ] && break
  sleep 1; n=$((n + 1))
done
for u in frostbox.service frostbox-hang.service; do
  echo "CI-REPORT $u $(systemctl show -p ActiveState,SubState,Result,NRestarts,StatusText "$u" | tr '\n' ' ')"
done
if [ -n "$CI_SKIP_HTTP" ]; then
  echo "CI-REPORT healthcheck skipped"
elif /usr/local/bin/frostbox healthcheck --url http://127.0.0.1:8002/ready; then
  echo "CI-REPORT healthcheck ok"
else
  echo "CI-REPORT healthcheck failed rc=$?"
fi
