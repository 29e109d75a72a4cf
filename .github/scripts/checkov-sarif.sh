#!/usr/bin/env bash
# One SARIF file for code scanning from the reports `invoke check --all` writes when CHECKOV_SARIF_DIR is set:
# checkov-<env>.sarif for each cluster's rendered manifests and checkov-terraform.sarif.
#
#   checkov-sarif.sh DIR OUT
#
# - Each run gets its own category (automationDetails.id checkov/<env|terraform>/): code scanning refuses one
#   upload holding several runs of one tool under one category.
# - The rendered manifests live in a temporary folder, so a result on one points at the cluster's
#   kustomization.yaml instead, names the rendered object in its message and keeps it apart from the other
#   objects failing the same check (a partial fingerprint). `invoke check` itself names the source line.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 DIR OUT" >&2
  exit 2
fi
dir=$1
out=$2

shopt -s nullglob
reports=("$dir"/checkov-*.sarif)
if ((${#reports[@]} == 0)); then
  echo "no checkov-*.sarif in $dir: did invoke check --all run checkov?" >&2
  exit 1
fi

for report in "${reports[@]}"; do
  scan=$(basename "$report" .sarif)
  scan=${scan#checkov-}
  jq --arg scan "$scan" '
    .runs |= map(
      .automationDetails = {id: "checkov/\($scan)/"}
      | if $scan == "terraform" then . else
          .results = [
            (.results // [])[]
            | ((.locations[0].physicalLocation.artifactLocation.uri // "") | split("/") | last | sub("^[0-9]+-"; "")) as $object
            | .message.text = "[\($scan)] \($object): \(.message.text)"
            | .locations = [{physicalLocation: {artifactLocation: {uri: "clusters/\($scan)/kustomization.yaml"}, region: {startLine: 1}}}]
            | .partialFingerprints = ((.partialFingerprints // {}) + {"renderedObject/v1": "\($scan)/\($object)"})
          ]
        end
    )' "$report"
done | jq -s '{"$schema": .[0]["$schema"], version: .[0].version, runs: (map(.runs) | add)}' >"$out"

echo "$out: $(jq '.runs | length' "$out") runs, $(jq '[.runs[].results // [] | length] | add' "$out") results"
