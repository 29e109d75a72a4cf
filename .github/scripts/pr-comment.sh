#!/usr/bin/env bash
# Post or update the one pull request comment that carries KEY: the first line of the comment is a hidden
# marker, <!-- KEY -->, and a later run edits that comment instead of adding another.
#
#   pr-comment.sh KEY BODY_FILE
#
# Needs GH_TOKEN (pull-requests: write), GITHUB_REPOSITORY and PR_NUMBER; COMMENT_AUTHOR is the login the token
# comments as (default github-actions[bot], the workflow's own GITHUB_TOKEN). gh and jq are on GitHub's runners.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 KEY BODY_FILE" >&2
  exit 2
fi
key=$1
body_file=$2
: "${GITHUB_REPOSITORY:?}" "${PR_NUMBER:?}"

marker="<!-- ${key} -->"
author=${COMMENT_AUTHOR:-github-actions[bot]}
# GitHub refuses a comment longer than 65536 characters; the full text stays in the job log and summary.
limit=60000
body="$(printf '%s\n' "$marker"; cat "$body_file")"
if ((${#body} > limit)); then
  body="${body:0:limit}"$'\n\n'"(cut at ${limit} characters; the whole text is in the job summary of run ${GITHUB_RUN_ID:-?})"
fi
payload=$(mktemp)
trap 'rm -f "$payload"' EXIT
jq -n --arg body "$body" '{body: $body}' >"$payload"

# The comment this workflow wrote before: the marker, on a comment of the same account (nobody else's is edited).
existing=$(gh api --paginate "repos/${GITHUB_REPOSITORY}/issues/${PR_NUMBER}/comments?per_page=100" |
  jq -rs --arg marker "$marker" --arg author "$author" \
    '[add // [] | .[] | select(.user.login == $author and (.body | startswith($marker)))] | first | .id // empty')

if [[ -n $existing ]]; then
  gh api --method PATCH "repos/${GITHUB_REPOSITORY}/issues/comments/${existing}" --input "$payload" --jq .html_url
else
  gh api --method POST "repos/${GITHUB_REPOSITORY}/issues/${PR_NUMBER}/comments" --input "$payload" --jq .html_url
fi
