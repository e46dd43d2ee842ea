#!/bin/sh
# @LABEL@ installer (axha lab stand-in): a makeself-style self-extracting archive wrapping @DEB@.
# The payload (a gzipped tar of LICENSE and the .deb) starts at line SKIP of this file.
SKIP=@SKIP@
MD5=@MD5@
DEB=@DEB@
LABEL="@LABEL@"
noexec=n; keep=n; nomd5=n; quiet=n; target=""

usage() {
    cat <<USAGE
$LABEL installer
Usage: $0 [options]
  --help        print this message and exit
  --quiet       do not print the extraction messages
  --noexec      only extract the files, do not install (implies --keep)
  --keep        do not remove the extracted files afterwards
  --target DIR  extract into DIR (implies --keep)
  --nomd5       do not verify the archive's MD5 checksum
USAGE
}

while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h) usage; exit 0 ;;
        --quiet|-q) quiet=y ;;
        --noexec) noexec=y; keep=y ;;
        --keep) keep=y ;;
        --nomd5) nomd5=y ;;
        --target)
            [ $# -ge 2 ] && [ -n "$2" ] || { echo "$0: --target needs a directory" >&2; exit 1; }
            target=$2; keep=y; shift ;;
        *) echo "$0: unrecognized flag: $1" >&2; usage >&2; exit 1 ;;
    esac
    shift
done

say() { [ "$quiet" = y ] || echo "$@"; }
payload() { tail -n +"$SKIP" "$0"; }

if [ "$nomd5" = n ]; then
    sum=$(payload | md5sum | cut -d' ' -f1)
    if [ "$sum" != "$MD5" ]; then
        echo "Error in MD5 checksums: $sum is different from $MD5" >&2
        exit 2
    fi
fi
if [ -n "$target" ]; then
    mkdir -p "$target" || exit 1
    dir=$target
else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/axigen-install.XXXXXX") || exit 1
fi
say "Uncompressing $LABEL into $dir"
payload | tar -xzf - -C "$dir" || { echo "$0: extraction failed" >&2; exit 1; }
cleanup() { [ "$keep" = y ] || rm -rf "$dir"; }
if [ "$noexec" = y ]; then
    say "Extracted to $dir"
    exit 0
fi
cat "$dir/LICENSE"
printf '%s' "Do you accept the terms of the license agreement? [yes/no] "
read -r answer || answer=""
case "$answer" in
    y|Y|yes|Yes|YES) ;;
    *)
        echo
        echo "The license agreement was not accepted: nothing was installed."
        cleanup
        exit 1 ;;
esac
dpkg -i "$dir/$DEB"
rc=$?
cleanup
exit $rc
