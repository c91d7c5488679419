#!/bin/sh
# The application tier: reports its version and where its database is.
echo "app @VERSION@ talking to ${DB_ADDR:-db:5432}"
