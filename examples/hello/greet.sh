#!/bin/sh
echo "${GREETING:-hello}, ${1:-you}!"
if [ -f /app/built.txt ]; then cat /app/built.txt; fi
