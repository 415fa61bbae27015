#!/usr/bin/env bash
# Checks the installed udev rule for USB boards: present, not writable by others, and
# granting access to a group with mode 0660 only (nothing world-writable), for the default
# VID:PID the usb device looks for.
set -euo pipefail
rule=${1:?usage: udev_rule.sh PATH/70-cbr.rules}
fail() { echo "udev rule $rule: $*"; exit 1; }
[ -f "$rule" ] || fail "not installed"
[ "$(stat -c %a "$rule")" = 644 ] || fail "file mode $(stat -c %a "$rule"), want 644"
lines=$(grep -v '^\s*#' "$rule" | grep -v '^\s*$')
[ -n "$lines" ] || fail "has no rule"
while IFS= read -r l; do
    echo "$l" | grep -q 'SUBSYSTEM=="usb"' || fail "a rule not limited to USB: $l"
    echo "$l" | grep -q 'MODE="0660"' || fail "a rule without MODE=\"0660\": $l"
    echo "$l" | grep -Eq 'GROUP="[a-z_][a-z0-9_-]*"' || fail "a rule without a GROUP: $l"
    echo "$l" | grep -Eq 'MODE="0?[0-7][0-7][2367]"' && fail "world-writable: $l"
done <<< "$lines"
echo "$lines" | grep -q 'ATTR{idVendor}=="04b4", ATTR{idProduct}=="00f1"' \
    || fail "no rule for the default board 04b4:00f1"
if command -v udevadm >/dev/null && udevadm verify --help >/dev/null 2>&1; then
    udevadm verify "$rule" >/dev/null || fail "udevadm verify rejects it"
fi
echo "udev rule: OK ($rule)"
