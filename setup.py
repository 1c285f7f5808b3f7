"""Build configuration for the compiled parts: the PDQ engine's C core, the carving signature
search, the PDQ index's search and the URL canonicalizer with its list lookups (everything else is in
pyproject.toml).

-ffp-contract=off and no -ffast-math are required, not tuning: PDQ must be bit-identical to the reference, and a
fused multiply-add or a reassociated sum changes float rounding.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "hashwarden.signals._pdqcore",
            ["src/hashwarden/signals/_pdqcore.c"],
            extra_compile_args=["-O3", "-std=c11", "-ffp-contract=off", "-fno-fast-math", "-Wall"],
        ),
        Extension(
            "hashwarden.evidence._sigscan",
            ["src/hashwarden/evidence/_sigscan.c"],
            extra_compile_args=["-O3", "-std=c11", "-Wall"],
        ),
        Extension(
            "hashwarden.index._mih",
            ["src/hashwarden/index/_mih.c"],
            extra_compile_args=["-O3", "-std=c11", "-Wall"],
        ),
        # SHA-256 from OpenSSL's libcrypto, the library hashlib calls (headers: Debian's libssl-dev, Makefile).
        Extension(
            "hashwarden.urls._urlc",
            ["src/hashwarden/urls/_urlc.c"],
            extra_compile_args=["-O3", "-std=c11", "-Wall"],
            libraries=["crypto"],
        ),
    ]
)
