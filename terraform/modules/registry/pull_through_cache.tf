# Pull-through cache: every third-party image the clusters run is pulled through this registry as
# `<registry>/<prefix>/<upstream path>`, cached on first pull, scanned on push like our own images,
# and pinned by digest in staging and prod. An upstream outage or rate limit then stops no node, and
# a tag that moves upstream changes nothing that runs.

locals {
  credentialed_upstreams = { for prefix, rule in var.pull_through_cache_rules : prefix => rule if rule.credentials }

  # The repositories a pull through a rule creates, by prefix (ECR appends the upstream path).
  cached_repository_arns = [
    for prefix in sort(keys(var.pull_through_cache_rules)) :
    "arn:${local.partition}:ecr:${data.aws_region.current.name}:${local.account_id}:repository/${prefix}/*"
  ]
}

data "aws_region" "current" {}

resource "aws_ecr_pull_through_cache_rule" "this" {
  for_each = var.pull_through_cache_rules

  ecr_repository_prefix = each.key
  upstream_registry_url = each.value.upstream_registry_url
  credential_arn        = each.value.credentials ? aws_secretsmanager_secret.upstream_credentials[each.key].arn : null
}

# Docker Hub and GitHub's registry want a login. ECR reads it from a secret whose name must start
# with ecr-pullthroughcache/. Terraform makes the secret without a value, so no credential is in its
# state; `invoke registry-credentials` puts the value in.
resource "aws_secretsmanager_secret" "upstream_credentials" {
  for_each = local.credentialed_upstreams

  #checkov:skip=CKV2_AWS_57:The value is an access token issued by the upstream registry (Docker Hub, GitHub); it is rotated there and replaced with `invoke registry-credentials`, not by a rotation Lambda.
  #checkov:skip=CKV_AWS_149:ECR's pull-through service-linked role reads it; that role exists only after the first rule, so a customer key could not name it in its policy beforehand. The AWS managed key still encrypts it.
  name                    = "ecr-pullthroughcache/${each.key}"
  description             = "Login ECR uses to pull through from ${each.value.upstream_registry_url}: JSON {\"username\", \"accessToken\"}. Set with `invoke registry-credentials`."
  recovery_window_in_days = 7

  tags = var.tags
}

# Repositories the cache creates get the settings of our own: immutable tags, the module's key, the
# same lifecycle and the environment accounts' pull access. With a KMS key, ECR creates them through
# a role of ours.
resource "aws_ecr_repository_creation_template" "pull_through_cache" {
  for_each = var.pull_through_cache_rules

  prefix               = each.key
  description          = "Repositories cached from ${each.value.upstream_registry_url}"
  applied_for          = ["PULL_THROUGH_CACHE"]
  image_tag_mutability = "IMMUTABLE"
  custom_role_arn      = aws_iam_role.repository_creation.arn
  lifecycle_policy     = jsonencode(local.lifecycle_policy)
  repository_policy    = length(var.pull_account_ids) > 0 ? jsonencode(local.repository_policy) : null

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.this.arn
  }

  resource_tags = var.tags
}

resource "aws_iam_role" "repository_creation" {
  name_prefix          = "${var.iam_name_prefix}-repo-create-"
  description          = "Assumed by ECR to create the pull-through cache's repositories with the registry's KMS key"
  permissions_boundary = var.permissions_boundary_arn
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecr.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "repository_creation" {
  name = "create-cached-repositories"
  role = aws_iam_role.repository_creation.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "CachedRepositories"
        Effect   = "Allow"
        Action   = ["ecr:CreateRepository", "ecr:TagResource"]
        Resource = local.cached_repository_arns
      },
      {
        Sid      = "RegistryKey"
        Effect   = "Allow"
        Action   = ["kms:CreateGrant", "kms:RetireGrant", "kms:DescribeKey"]
        Resource = aws_kms_key.this.arn
      },
    ]
  })
}

# Who may fill the cache: the environment accounts, for the cache's prefixes only. Their node roles
# must also be allowed by their own IAM policies (the cluster and karpenter modules).
resource "aws_ecr_registry_policy" "this" {
  count = length(var.pull_account_ids) > 0 ? 1 : 0

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "PullThroughCacheFromEnvironments"
      Effect    = "Allow"
      Principal = { AWS = local.pull_principals }
      Action    = ["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"]
      Resource  = local.cached_repository_arns
    }]
  })
}

# Scan on push for our repositories and for every cached one: a repository the cache creates has no
# scanning setting of its own, so the registry's rule decides.
resource "aws_ecr_registry_scanning_configuration" "this" {
  scan_type = "BASIC"

  rule {
    scan_frequency = "SCAN_ON_PUSH"
    repository_filter {
      filter      = "*"
      filter_type = "WILDCARD"
    }
  }
}
