#!/usr/bin/env bash
# Plan one Terraform stack against its state and write the outcome as Markdown, for the pull request comment
# and the job summary.
#
#   terraform-plan.sh DIR OUT
#
# Exits 0 when the plan ran (with or without changes) and 1 when init or plan failed; OUT is written either way.
# The caller has configured AWS credentials (the environment's terraform-plan role) and, where it applies,
# TF_VAR_admin_principal_arns. The plan compares the configuration with the state as recorded
# (-refresh=false): reading every resource back would need calls that return secrets (a secret version's
# value, a user pool client), which the plan role is denied. Drift shows in the apply job's plan.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 DIR OUT" >&2
  exit 2
fi
dir=$1
out=$2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# What a comment can hold of the plan; the job log has all of it.
limit=50000

status=0
if terraform -chdir="$dir" init -input=false -no-color -reconfigure >"$log" 2>&1; then
  terraform -chdir="$dir" plan -input=false -no-color -refresh=false -lock-timeout=5m -detailed-exitcode >"$log" 2>&1 || status=$?
else
  status=1
fi
cat "$log"

case $status in
  0) verdict="No changes." ;;
  2) verdict=$(grep -E '^Plan: ' "$log" | tail -n 1 || true) && verdict=${verdict:-"Changes."} ;;
  *) verdict="The plan failed: read the log below." ;;
esac
# The refresh lines say nothing a reviewer needs.
text=$(grep -vE ': (Refreshing state|Reading|Read complete after)' "$log" || true)
if ((${#text} > limit)); then
  text="${text:0:limit}"$'\n'"(cut at ${limit} characters; the whole plan is in the job log)"
fi

{
  echo "#### \`${dir}\`: ${verdict}"
  echo
  echo "<details><summary>terraform plan</summary>"
  echo
  echo '```text'
  printf '%s\n' "$text"
  echo '```'
  echo
  echo "</details>"
} >"$out"

if ((status != 0 && status != 2)); then
  exit 1
fi
