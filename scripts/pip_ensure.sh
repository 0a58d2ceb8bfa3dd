# shellcheck shell=bash
# Sourced by the install_*_tools.sh scripts: `pip_ensure PYTHON SPEC...` installs the given
# requirement specs into PYTHON's environment unless every one is already satisfied.
pip_ensure() {
  local py="$1"
  shift
  if "$py" - "$@" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version
from packaging.requirements import Requirement
for spec in sys.argv[1:]:
    req = Requirement(spec)
    try:
        if not req.specifier.contains(version(req.name), prereleases=True):
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
EOF
  then
    echo "pip: all packages present"
  else
    echo "pip: installing $*"
    "$py" -m pip install -q "$@"
  fi
}
