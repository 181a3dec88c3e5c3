#!/bin/sh
# The `backup` service of docker-compose.yml: a pg_dump of the database (custom format, for
# pg_restore) into BACKUP_DIR (/backups) every BACKUP_INTERVAL_HOURS hours, the first at start;
# dumps older than BACKUP_KEEP_DAYS days are deleted. The connection comes from PGHOST, PGUSER,
# PGPASSWORD and PGDATABASE. A dump is written under a temporary name and renamed once complete.
set -u
interval=$(( ${BACKUP_INTERVAL_HOURS:-24} * 3600 ))
keep=${BACKUP_KEEP_DAYS:-14}
dir=${BACKUP_DIR:-/backups}
umask 077
# PID 1 of its container: stop at once on `docker stop`, even while sleeping.
sleeper=""
trap '[ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null; exit 0' TERM INT
pause() { sleep "$1" & sleeper=$!; wait "$sleeper"; sleeper=""; }
while :; do
    file="$dir/synpunkt-$(date -u +%Y%m%dT%H%M%SZ).dump"
    if pg_dump --format=custom --file="$file.partial"; then
        mv "$file.partial" "$file"
        echo "backup: wrote $file ($(du -h "$file" | cut -f1))"
    else
        rm -f "$file.partial"
        echo "backup: pg_dump failed; trying again in an hour" >&2
        pause 3600
        continue
    fi
    find "$dir" -name 'synpunkt-*.dump' -mtime +"$keep" -delete
    pause "$interval"
done
