# The roles this environment's GitHub workflows assume (see .github/README.md): `terraform-plan` for
# pull requests (read-only, plus the state lock file), `terraform-apply` for the environment's
# protected GitHub environment. The apply role is also a cluster admin, so the bootstrap layer can
# install Argo CD.

locals {
  github_repository = regex("github\\.com[/:]([^/]+/[^/]+?)(?:\\.git)?/?$", var.cluster.gitops.repo_url)[0]
  state_bucket      = "${local.name}-tfstate-${local.account_id}"
  ci_role_prefix    = "${local.name}-github"
  # Known at plan time (the access entry is keyed by it), unlike the role's computed arn.
  ci_apply_role_arn = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:role/${local.ci_role_prefix}-terraform-apply"

  terraform_plan_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "StateLockFile"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:DeleteObject"]
        Resource = "arn:${data.aws_partition.current.partition}:s3:::${local.state_bucket}/${var.cluster.environment}/*.tflock"
      },
    ]
  })
}

module "ci_roles" {
  source = "../github-oidc"

  repository = local.github_repository
  # The registry stack makes the provider in the registry account; an environment sharing that
  # account uses it.
  create_oidc_provider = local.account_id != var.cluster.registry.account_id
  name_prefix          = local.ci_role_prefix
  roles = {
    terraform-plan = {
      subjects            = ["pull_request"]
      managed_policy_arns = ["arn:${data.aws_partition.current.partition}:iam::aws:policy/ReadOnlyAccess"]
      inline_policy_json  = local.terraform_plan_policy
    }
    terraform-apply = {
      subjects = ["environment:${var.cluster.environment}"]
      # Applying the platform creates IAM roles, KMS keys, a VPC and an EKS cluster: administrator
      # rights, held only by workflows of the protected environment on this repository.
      managed_policy_arns = ["arn:${data.aws_partition.current.partition}:iam::aws:policy/AdministratorAccess"]
    }
  }
  tags = local.tags
}
