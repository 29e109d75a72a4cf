# The one ECR registry every environment pulls from (cluster.yaml `registry`). CI pushes each image
# once; promotion moves pins between environments, never images. Its own account and state, so no
# environment's stack can change what another environment runs.

terraform {
  required_version = ">= 1.9, < 2.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }

  # Created by `invoke tf-backend --registry`.
  backend "s3" {
    bucket       = "airflow-registry-tfstate-444444444444"
    key          = "shared/registry.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}

locals {
  clusters_dir = "${path.module}/../../../../clusters"
  clusters = {
    for f in fileset(local.clusters_dir, "*/cluster.yaml") :
    dirname(f) => yamldecode(file("${local.clusters_dir}/${f}"))
  }
  # Every environment names the same registry; the first one (by name) is authoritative, and
  # invoke check fails when they disagree.
  registry   = local.clusters[sort(keys(local.clusters))[0]].registry
  repository = distinct([for c in values(local.clusters) : c.airflow.image_repository])
  pull_accounts = sort(distinct([
    for c in values(local.clusters) : c.aws.account_id if c.aws.account_id != local.registry.account_id
  ]))
}

provider "aws" {
  region              = local.registry.region
  allowed_account_ids = [local.registry.account_id]
}

module "registry" {
  source = "../../../modules/registry"

  repository_names         = local.repository
  pull_account_ids         = local.pull_accounts
  iam_name_prefix          = local.name
  permissions_boundary_arn = module.guardrails.permissions_boundary_arn
  # Docker Hub and GitHub's registry serve ECR only with a login.
  pull_through_cache_rules = {
    for prefix, host in try(local.registry.pull_through_cache, {}) :
    prefix => { upstream_registry_url = host, credentials = contains(["registry-1.docker.io", "ghcr.io"], host) }
  }
}

# The roles of this stack's own plan and apply, and of the image and promote workflows
# (.github/README.md). Each trusts the subjects of one workflow's job: pull requests (plan), the GitHub
# environment `registry` (terraform.yml's apply-registry), `image` (image.yml's build, deployed from main
# and protected v* tags) and `<env>-promote` (promote.yml, into staging and prod). invoke check (rule
# ci-trust) proves from the workflows that no other job's token carries one of these subjects.
locals {
  github_repository = regex("github\\.com[/:]([^/]+/[^/]+?)(?:\\.git)?/?$", local.clusters[sort(keys(local.clusters))[0]].gitops.repo_url)[0]
  name              = "airflow-registry"
  ci_role_prefix    = "${local.name}-github"
  push_actions = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImageScanFindings",
    "ecr:DescribeImages",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
  ]
  ecr_policy = {
    # A promotion reads a tag's digest and its scan findings: nothing else.
    for name, actions in { image-push = local.push_actions, image-read = ["ecr:DescribeImages", "ecr:DescribeImageScanFindings"] } :
    name => jsonencode({
      Version = "2012-10-17"
      Statement = concat(
        [{ Sid = "Repositories", Effect = "Allow", Action = actions, Resource = values(module.registry.repository_arns) }],
        # GetAuthorizationToken has no resource-level permissions; only a push needs a registry login.
        name == "image-push" ? [{ Sid = "RegistryLogin", Effect = "Allow", Action = "ecr:GetAuthorizationToken", Resource = "*" }] : [],
      )
    })
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

module "guardrails" {
  source = "../../../modules/guardrails"

  name             = local.name
  state_bucket     = "${local.name}-tfstate-${data.aws_caller_identity.current.account_id}"
  state_key_prefix = "shared/"
  ci_role_prefix   = local.ci_role_prefix
}

module "ci_roles" {
  source = "../../../modules/github-oidc"

  repository               = local.github_repository
  name_prefix              = local.ci_role_prefix
  permissions_boundary_arn = module.guardrails.permissions_boundary_arn
  roles = {
    terraform-plan = { subjects = ["pull_request"], inline_policy_json = module.guardrails.plan_policy_json }
    terraform-apply = {
      subjects            = ["environment:registry"]
      managed_policy_arns = ["arn:${data.aws_partition.current.partition}:iam::aws:policy/AdministratorAccess"]
    }
    image-push = { subjects = ["environment:image"], inline_policy_json = local.ecr_policy["image-push"] }
    image-read = { subjects = ["environment:staging-promote", "environment:prod-promote"], inline_policy_json = local.ecr_policy["image-read"] }
  }
}

output "ci_role_arns" {
  description = "Roles of the registry's plan and apply and of the image and promote workflows (AWS_PLAN_ROLE_ARN_REGISTRY, the registry environment's AWS_APPLY_ROLE_ARN, AWS_IMAGE_PUSH_ROLE_ARN, AWS_IMAGE_READ_ROLE_ARN)."
  value       = module.ci_roles.role_arns
}

output "repository_urls" {
  description = "Image repository URL by name."
  value       = module.registry.repository_urls
}
