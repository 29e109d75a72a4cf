# The guard rails of one stack's IAM (see .github/README.md, "Who may do what"):
#
# - a permissions boundary that every role of the stack carries, the terraform-apply role included. It
#   allows what the role's own policies allow, except what would let a role escape it: no role outside
#   the platform's name prefix, no role without this boundary, no change to the boundary, to the GitHub
#   OIDC roles and their trust, or to the state bucket and its key. Those stay with the break-glass role.
# - the terraform-plan role's policy: the reads of `terraform plan -refresh=false` (the data sources and
#   the state), and explicit denies for everything that returns a secret.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  partition       = data.aws_partition.current.partition
  account_id      = data.aws_caller_identity.current.account_id
  region          = data.aws_region.current.name
  bucket_arn      = "arn:${local.partition}:s3:::${var.state_bucket}"
  state_key_alias = "alias/${var.name}-tfstate"
  role_arn_prefix = "arn:${local.partition}:iam::${local.account_id}:role/"
  boundary_name   = "${var.name}-permissions-boundary"
  # Known before the policy exists, so the boundary can name itself.
  boundary_arn = "arn:${local.partition}:iam::${local.account_id}:policy/${local.boundary_name}"

  state_objects = ["${local.bucket_arn}/${var.state_key_prefix}*.tfstate", "${local.bucket_arn}/${var.state_key_prefix}*.tflock"]
  lock_files    = "${local.bucket_arn}/${var.state_key_prefix}*.tflock"
  via_s3        = "s3.${local.region}.amazonaws.com"

  role_changes = [
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
  ]

  boundary_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        # A boundary narrows; each role's own policies grant. The denies below are what it is for.
        Sid      = "WhatTheRolesOwnPoliciesAllow"
        Effect   = "Allow"
        Action   = "*"
        Resource = "*"
      },
      {
        Sid         = "NoRoleOutsideThePrefix"
        Effect      = "Deny"
        Action      = concat(local.role_changes, ["iam:PassRole"])
        NotResource = "${local.role_arn_prefix}${var.name}-*"
      },
      {
        Sid       = "NewRolesCarryThisBoundary"
        Effect    = "Deny"
        Action    = ["iam:CreateRole", "iam:PutRolePermissionsBoundary"]
        Resource  = "*"
        Condition = { StringNotEquals = { "iam:PermissionsBoundary" = local.boundary_arn } }
      },
      {
        Sid      = "NoRoleWithoutIt"
        Effect   = "Deny"
        Action   = "iam:DeleteRolePermissionsBoundary"
        Resource = "*"
      },
      {
        Sid      = "TheBoundaryStaysAsItIs"
        Effect   = "Deny"
        Action   = ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"]
        Resource = local.boundary_arn
      },
      {
        # The CI roles' trust decides which workflow may act here: only the break-glass role changes it.
        Sid      = "CiRolesByBreakGlassOnly"
        Effect   = "Deny"
        Action   = local.role_changes
        Resource = "${local.role_arn_prefix}${var.ci_role_prefix}-*"
      },
      {
        Sid    = "GithubProviderByBreakGlassOnly"
        Effect = "Deny"
        Action = [
          "iam:AddClientIDToOpenIDConnectProvider",
          "iam:DeleteOpenIDConnectProvider",
          "iam:RemoveClientIDFromOpenIDConnectProvider",
          "iam:UpdateOpenIDConnectProviderThumbprint",
        ]
        Resource = "*"
      },
      {
        Sid      = "NoLongLivedCredentials"
        Effect   = "Deny"
        Action   = ["iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:CreateUser", "iam:UpdateLoginProfile"]
        Resource = "*"
      },
      {
        Sid    = "StateBucketByBreakGlassOnly"
        Effect = "Deny"
        Action = [
          "s3:DeleteBucket",
          "s3:DeleteBucketPolicy",
          "s3:PutBucketOwnershipControls",
          "s3:PutBucketPolicy",
          "s3:PutBucketPublicAccessBlock",
          "s3:PutBucketVersioning",
          "s3:PutEncryptionConfiguration",
        ]
        Resource = local.bucket_arn
      },
      {
        Sid    = "StateKeyByBreakGlassOnly"
        Effect = "Deny"
        Action = [
          "kms:CreateGrant",
          "kms:DisableKey",
          "kms:DisableKeyRotation",
          "kms:PutKeyPolicy",
          "kms:ScheduleKeyDeletion",
        ]
        Resource  = "*"
        Condition = { "ForAnyValue:StringEquals" = { "kms:ResourceAliases" = local.state_key_alias } }
      },
      {
        Sid      = "StateKeyAliasByBreakGlassOnly"
        Effect   = "Deny"
        Action   = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"]
        Resource = "arn:${local.partition}:kms:${local.region}:${local.account_id}:${local.state_key_alias}"
      },
    ]
  }

  plan_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        # The data sources of the stacks (aws_availability_zones, aws_route53_zone); aws_caller_identity
        # needs no permission.
        Sid      = "DataSources"
        Effect   = "Allow"
        Action   = ["ec2:DescribeAvailabilityZones", "route53:GetHostedZone", "route53:ListHostedZones", "route53:ListTagsForResource"]
        Resource = "*"
      },
      {
        Sid      = "StateBucket"
        Effect   = "Allow"
        Action   = ["s3:GetBucketLocation", "s3:ListBucket"]
        Resource = local.bucket_arn
      },
      {
        Sid      = "StateObjects"
        Effect   = "Allow"
        Action   = "s3:GetObject"
        Resource = local.state_objects
      },
      {
        Sid      = "StateLockFile"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:DeleteObject"]
        Resource = local.lock_files
      },
      {
        # The state bucket's customer-managed key, through S3 only.
        Sid      = "StateKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = "arn:${local.partition}:kms:${local.region}:${local.account_id}:key/*"
        Condition = {
          StringEquals               = { "kms:ViaService" = local.via_s3 }
          "ForAnyValue:StringEquals" = { "kms:ResourceAliases" = local.state_key_alias }
        }
      },
      {
        Sid      = "NoSecretValue"
        Effect   = "Deny"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue"]
        Resource = "*"
      },
      {
        # WithDecryption is a request parameter no condition key sees, so every parameter read is
        # denied; and no key decrypts for this role but through S3 (below).
        Sid      = "NoDecryptedParameter"
        Effect   = "Deny"
        Action   = ["ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters", "ssm:GetParametersByPath"]
        Resource = "*"
      },
      {
        Sid       = "NoDecryptOutsideTheState"
        Effect    = "Deny"
        Action    = "kms:Decrypt"
        Resource  = "*"
        Condition = { StringNotEquals = { "kms:ViaService" = local.via_s3 } }
      },
      {
        Sid      = "NoUserPoolClientSecret"
        Effect   = "Deny"
        Action   = "cognito-idp:DescribeUserPoolClient"
        Resource = "*"
      },
      {
        Sid         = "NoObjectButTheState"
        Effect      = "Deny"
        Action      = "s3:GetObject"
        NotResource = local.state_objects
      },
    ]
  }
}

resource "aws_iam_policy" "boundary" {
  #checkov:skip=CKV_AWS_62:A permissions boundary grants nothing: it caps the role's own policies, so it allows every action and holds its value in the denies (prefix, itself, CI trust, state backend).
  #checkov:skip=CKV_AWS_63:A permissions boundary grants nothing: it caps the role's own policies, so it allows every action and holds its value in the denies (prefix, itself, CI trust, state backend).
  #checkov:skip=CKV_AWS_286:A permissions boundary grants nothing: it caps the role's own policies, so it allows every action and holds its value in the denies (prefix, itself, CI trust, state backend).
  #checkov:skip=CKV_AWS_287:A permissions boundary grants nothing: it caps the role's own policies, so it allows every action and holds its value in the denies (prefix, itself, CI trust, state backend).
  #checkov:skip=CKV_AWS_288:A permissions boundary grants nothing: it caps the role's own policies, so it allows every action and holds its value in the denies (prefix, itself, CI trust, state backend).
  #checkov:skip=CKV_AWS_289:A permissions boundary grants nothing: it caps the role's own policies, so it allows every action and holds its value in the denies (prefix, itself, CI trust, state backend).
  #checkov:skip=CKV_AWS_290:A permissions boundary grants nothing: it caps the role's own policies, so it allows every action and holds its value in the denies (prefix, itself, CI trust, state backend).
  #checkov:skip=CKV_AWS_355:A permissions boundary grants nothing: it caps the role's own policies, so it allows every action and holds its value in the denies (prefix, itself, CI trust, state backend).
  #checkov:skip=CKV2_AWS_40:A permissions boundary grants nothing: it caps the role's own policies, so it allows every action and holds its value in the denies (prefix, itself, CI trust, state backend).
  name        = local.boundary_name
  description = "Permissions boundary of every role of ${var.name}: no role outside the prefix or without this boundary; CI trust, the boundary and the state backend stay with the break-glass role"
  policy      = jsonencode(local.boundary_policy)
  tags        = var.tags
}
