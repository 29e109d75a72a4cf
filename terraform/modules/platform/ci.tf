# The roles this environment's GitHub workflows assume (see .github/README.md): `terraform-plan` for
# pull requests, `terraform-apply` for terraform.yml's apply job in the environment's protected GitHub
# environment. Promotions run in GitHub environments of their own (`<env>-promote`), which no role here
# trusts. The apply role is also a cluster admin, so the bootstrap layer can install Argo CD.
#
# Every role of the environment, these two included, carries the guard rails' permissions boundary
# and the platform's name prefix (modules/guardrails).

locals {
  github_repository = regex("github\\.com[/:]([^/]+/[^/]+?)(?:\\.git)?/?$", var.cluster.gitops.repo_url)[0]
  state_bucket      = "${local.name}-tfstate-${local.account_id}"
  ci_role_prefix    = "${local.name}-github"
  # Known at plan time (the access entry is keyed by it), unlike the role's computed arn.
  ci_apply_role_arn = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:role/${local.ci_role_prefix}-terraform-apply"
}

module "guardrails" {
  source = "../guardrails"

  name             = local.name
  state_bucket     = local.state_bucket
  state_key_prefix = "${var.cluster.environment}/"
  ci_role_prefix   = local.ci_role_prefix
  tags             = local.tags
}

module "ci_roles" {
  source = "../github-oidc"

  repository = local.github_repository
  # The registry stack makes the provider in the registry account; an environment sharing that
  # account uses it.
  create_oidc_provider     = local.account_id != var.cluster.registry.account_id
  name_prefix              = local.ci_role_prefix
  permissions_boundary_arn = module.guardrails.permissions_boundary_arn
  roles = {
    terraform-plan = {
      # Any branch's pull request: so the role reads the data sources and the state, and no secret.
      subjects           = ["pull_request"]
      inline_policy_json = module.guardrails.plan_policy_json
    }
    terraform-apply = {
      # Only a job of the protected environment, which only terraform.yml's apply job uses (invoke check,
      # rule ci-trust) and which deploys from main only.
      subjects = ["environment:${var.cluster.environment}"]
      # Applying the platform creates IAM roles, KMS keys, a VPC and an EKS cluster: administrator
      # rights, inside the boundary.
      managed_policy_arns = ["arn:${data.aws_partition.current.partition}:iam::aws:policy/AdministratorAccess"]
    }
  }
  tags = local.tags
}
