data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  account_root = "arn:${local.partition}:iam::${local.account_id}:root"

  plain_names = toset(keys(var.plain_values))

  secrets = merge(
    { for n in var.generated_secrets : n => "Generated once by invoke secrets-init; Terraform never writes its value" },
    { for n in local.plain_names : n => "Written by Terraform; not secret" },
  )

  # The account administers the key (through IAM policies), but uses it for data only through
  # Secrets Manager: no principal can encrypt or decrypt with it directly. There is no
  # kms:CreateGrant either, so nobody can hand themselves a way around that.
  kms_key_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersTheKey"
        Effect    = "Allow"
        Principal = { AWS = local.account_root }
        Action = [
          "kms:CancelKeyDeletion",
          "kms:CreateAlias",
          "kms:DeleteAlias",
          "kms:Describe*",
          "kms:Disable*",
          "kms:Enable*",
          "kms:Get*",
          "kms:List*",
          "kms:PutKeyPolicy",
          "kms:RevokeGrant",
          "kms:RotateKeyOnDemand",
          "kms:ScheduleKeyDeletion",
          "kms:TagResource",
          "kms:UntagResource",
          "kms:Update*",
        ]
        Resource = "*"
      },
      {
        Sid       = "UseThroughSecretsManagerOnly"
        Effect    = "Allow"
        Principal = { AWS = local.account_root }
        Action = [
          "kms:Decrypt",
          "kms:DescribeKey",
          "kms:Encrypt",
          "kms:GenerateDataKey*",
          "kms:ReEncrypt*",
        ]
        Resource = "*"
        Condition = {
          StringEquals = {
            "kms:ViaService"    = "secretsmanager.${local.region}.amazonaws.com"
            "kms:CallerAccount" = local.account_id
          }
        }
      },
    ]
  }
}

resource "aws_kms_key" "this" {
  description             = "Secrets Manager secrets under ${var.name_prefix}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
  policy                  = jsonencode(local.kms_key_policy)

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${replace(trimsuffix(var.name_prefix, "/"), "/[^a-zA-Z0-9/_-]/", "-")}-secrets"
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:No rotation Lambda: the generated keys are created once and must stay stable (rotating the fernet key without re-encrypting makes stored connections unreadable), and plain values are not secret.
  for_each = local.secrets

  name                    = "${var.name_prefix}${each.key}"
  description             = each.value
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "plain" {
  for_each = local.plain_names

  secret_id     = aws_secretsmanager_secret.this[each.key].id
  secret_string = jsonencode(var.plain_values[each.key])
}
