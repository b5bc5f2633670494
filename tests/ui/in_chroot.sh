#!/bin/sh
# Inside the chroot: an X server (Xvfb), then Blender with simulated events running one step script.
# Usage: in_chroot.sh SCRIPT [blender arguments]; $MONOCAP_UI_RUN is the run folder.
# Xvfb picks a free display itself (-displayfd): the chroot shares the host's network namespace, where X's
# abstract sockets live, so a fixed number could meet another run's server.
set -u
script=$1; shift
dfile=$(mktemp)
Xvfb -displayfd 3 -screen 0 1920x1080x24 -nolisten tcp -noreset 3>"$dfile" >"$MONOCAP_UI_RUN/xvfb.log" 2>&1 &
xvfb=$!
i=0
until [ -s "$dfile" ] && DISPLAY=":$(cat "$dfile")" xdotool getdisplaygeometry >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt 300 ]; then echo "Xvfb did not start (see xvfb.log)" >&2; kill $xvfb; exit 90; fi
  sleep 0.1
done
export DISPLAY=":$(cat "$dfile")"
blender --enable-event-simulate --window-geometry 0 0 1920 1080 --python-exit-code 1 "$@" --python "$script"
rc=$?
kill $xvfb 2>/dev/null
exit $rc
