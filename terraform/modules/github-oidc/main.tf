# IAM roles that GitHub Actions workflows of one repository assume with their OIDC token: no
# long-lived keys. Each role trusts only the named subjects of that repository (a branch, a tag
# prefix, a protected environment or pull requests), and the token's audience must be STS.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  issuer       = "token.actions.githubusercontent.com"
  provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:oidc-provider/${local.issuer}"

  trust_policies = {
    for name, role in var.roles : name => jsonencode({
      Version = "2012-10-17"
      Statement = [
        {
          Effect    = "Allow"
          Principal = { Federated = local.provider_arn }
          Action    = "sts:AssumeRoleWithWebIdentity"
          Condition = {
            StringEquals = { "${local.issuer}:aud" = "sts.amazonaws.com" }
            StringLike   = { "${local.issuer}:sub" = [for s in role.subjects : "repo:${var.repository}:${s}"] }
          }
        },
      ]
    })
  }

  attachments = merge([
    for name, role in var.roles : { for arn in role.managed_policy_arns : "${name}|${arn}" => { role = name, arn = arn } }
  ]...)
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.issuer}"
  client_id_list = ["sts.amazonaws.com"]
  tags           = var.tags
}

resource "aws_iam_role" "this" {
  for_each = var.roles

  name                 = "${var.name_prefix}-${each.key}"
  description          = "Assumed by GitHub Actions of ${var.repository} (${join(", ", each.value.subjects)})"
  assume_role_policy   = local.trust_policies[each.key]
  permissions_boundary = var.permissions_boundary_arn
  max_session_duration = each.value.max_session_duration
  tags                 = var.tags
}

resource "aws_iam_role_policy" "this" {
  for_each = { for name, role in var.roles : name => role if role.inline_policy_json != null }

  name   = "${var.name_prefix}-${each.key}"
  role   = aws_iam_role.this[each.key].id
  policy = each.value.inline_policy_json
}

resource "aws_iam_role_policy_attachment" "this" {
  for_each = local.attachments

  role       = aws_iam_role.this[each.value.role].name
  policy_arn = each.value.arn
}
