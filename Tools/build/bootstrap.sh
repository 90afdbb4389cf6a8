#!/bin/sh
# The README's commands: on a fresh Debian 12 machine, install what is
# missing, configure if needed, then run make with the given targets.
# usage: Tools/build/bootstrap.sh [TARGET...]   e.g. bench-quick, check
# Configure options can be passed in CONFIGURE_OPTS.
set -eu
cd "$(dirname "$0")/../.."

# The tests and benchmarks also run uvloop and aiohttp.
groups="build runtime"
case " $* " in *" bench"*) groups="$groups bench" ;; esac
case " $* " in *" callgrind "*) groups="$groups callgrind" ;; esac
case " $* " in *" check "*|*" test-fork "*) groups="$groups check" ;; esac
case " $* ${CONFIGURE_OPTS:-} " in
*" check "*|*" test-fork "*|*" debug "*|*leakcheck*|*--with-pydebug*) groups="$groups debug" ;;
esac
case " $* " in *" check "*|*" check-windows "*) groups="$groups windows" ;; esac
Tools/build/deps.sh $groups

if [ ! -f Makefile ] || [ configure -nt Makefile ] || [ Makefile.pre.in -nt Makefile ]; then
    ./configure ${CONFIGURE_OPTS:-}
fi
exec make "$@"
