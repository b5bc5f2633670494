#!/bin/sh
# Inside the chroot: an X server (Xvfb), then Blender with simulated events running one step script.
# Usage: in_chroot.sh SCRIPT [blender arguments before --python...]; $MONOCAP_UI_RUN is the run folder.
set -u
script=$1; shift
Xvfb :99 -screen 0 1920x1080x24 -nolisten tcp -noreset >"$MONOCAP_UI_RUN/xvfb.log" 2>&1 &
xvfb=$!
export DISPLAY=:99
i=0
until xdotool getdisplaygeometry >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt 200 ]; then echo "Xvfb did not start (see xvfb.log)" >&2; kill $xvfb; exit 90; fi
  sleep 0.1
done
blender --enable-event-simulate --window-geometry 0 0 1920 1080 --python-exit-code 1 "$@" --python "$script"
rc=$?
kill $xvfb 2>/dev/null
exit $rc
