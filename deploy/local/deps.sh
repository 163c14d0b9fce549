#!/usr/bin/env bash
# Install the Debian packages voepy needs to build, run and test, when missing.
# Uses apt-get directly as root, sudo otherwise; does nothing when all are present.
set -euo pipefail

packages=(
    build-essential cmake pkg-config git clang-format python3 procps iproute2 util-linux
    libuv1-dev node-llhttp libhiredis-dev libpq-dev libsodium-dev libjansson-dev
    libcurl4-openssl-dev libosip2-dev libcmocka-dev
    postgresql postgresql-client redis-server redis-tools sip-tester curl
    python3-yaml python3-jsonschema  # tests/integration/contract.py checks answers against proto/openapi.yaml
    clang libclang-rt-dev  # clang-14 and its libFuzzer/ASan runtimes: tests/fuzz/run-bounded.sh
    libhpdf-dev poppler-utils  # invoice PDFs (libharu); pdftotext reads them back in test_invoice_pdf
    libspandsp-dev libsndfile1-dev libsamplerate0-dev  # media-fork: DTMF + G.711, WAV/MP3 decoding, resampling
    sox  # tests: DTMF tones and audio files for test_media_verbs
    libwebsockets-dev libwebsockets-evlib-uv libopus-dev  # media-fork: WebSocket media streams (lws on libuv), Opus
    libespeak-ng-dev espeak-ng-data  # media-fork: speak (tts_espeak.c)
    espeak-ng  # tests: spoken greetings and sentences (test_amd, test_relay_media)
    libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us  # media-fork: transcription (asr_pocketsphinx.c)
)
# npm for tests/contract/lint.sh, unless a Node.js with npm is there already (NodeSource's
# nodejs bundles npm and conflicts with Debian's npm package).
command -v npm >/dev/null || packages+=(nodejs npm)

. "$(dirname "$0")/lib.sh"
vp_apt_install "${packages[@]}"
