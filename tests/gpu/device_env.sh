# device_env.sh - source on the GPU machine (Ubuntu 24.04 image) before building: unpacks the
# Debian packages it lacks (protobuf-c, cJSON, PCRE2 dev files), carried in .deps/debs, into a
# private prefix and points the compiler, pkg-config and the loader at it.
# usage: source tests/gpu/device_env.sh   (from the repo root)
FRSPEC_DEPS=${FRSPEC_DEPS:-/tmp/frspec-deps}
mkdir -p "$FRSPEC_DEPS"
for f in .deps/debs/*.deb; do
    dpkg -x "$f" "$FRSPEC_DEPS"
done
for pc in "$FRSPEC_DEPS"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc; do
    # prefix, and the .pc files (libcjson) that name /usr paths without ${prefix}
    [ -f "$pc" ] && sed -i -e "s|^prefix=.*|prefix=$FRSPEC_DEPS/usr|" \
        -e "s|^libdir=/usr/|libdir=$FRSPEC_DEPS/usr/|" -e "s|^includedir=/usr/|includedir=$FRSPEC_DEPS/usr/|" "$pc"
done
export PKG_CONFIG_PATH="$FRSPEC_DEPS/usr/lib/x86_64-linux-gnu/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export LD_LIBRARY_PATH="$FRSPEC_DEPS/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LIBRARY_PATH="$FRSPEC_DEPS/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}"
export CPATH="$FRSPEC_DEPS/usr/include${CPATH:+:$CPATH}"
export PATH="$FRSPEC_DEPS/usr/bin:$PATH"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
