#!/usr/bin/env bash
# Apply Terraform stacks in the order given (the platform layer before the bootstrap layer that reads its state):
# for each, init, plan to a file, and apply that plan when it has changes. Each plan goes to the job summary.
#
#   terraform-apply.sh DIR...
#
# The caller has configured AWS credentials (the environment's terraform-apply role) and, where it applies,
# TF_VAR_admin_principal_arns.
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 DIR..." >&2
  exit 2
fi
summary=${GITHUB_STEP_SUMMARY:-/dev/null}

for dir in "$@"; do
  echo "::group::terraform init ${dir}"
  terraform -chdir="$dir" init -input=false -no-color
  echo "::endgroup::"

  status=0
  terraform -chdir="$dir" plan -input=false -no-color -lock-timeout=5m -detailed-exitcode -out=tfplan || status=$?
  case $status in
    0)
      echo "#### \`${dir}\`: no changes" >>"$summary"
      continue
      ;;
    2) ;;
    *)
      echo "#### \`${dir}\`: the plan failed" >>"$summary"
      exit 1
      ;;
  esac
  {
    echo "#### \`${dir}\`: changes"
    echo
    echo '```text'
    terraform -chdir="$dir" show -no-color tfplan
    echo '```'
  } >>"$summary"
  terraform -chdir="$dir" apply -input=false -no-color -lock-timeout=5m tfplan
  printf '\nApplied.\n' >>"$summary"
done
