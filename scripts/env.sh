# Sourced by the scripts: one cargo target directory outside the clone, so every
# clone (and CI) reuses the same builds of wasmtime and friends.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/weir-target}"
