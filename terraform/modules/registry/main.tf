data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # The default key policy: IAM policies decide who may use the key. ECR encrypts and decrypts
  # image layers through grants it creates on the key when a repository is created, so pulling
  # accounts need no KMS permission of their own.
  kms_key_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EnableIamPolicies"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
    ]
  }

  # Untagged images first (priority 1), then every tagged image beyond the newest N. A promoted
  # image is tagged, so it is only ever expired by the count rule.
  lifecycle_policy = {
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images after ${var.untagged_image_expiry_days} days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = var.untagged_image_expiry_days
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest ${var.keep_tagged_images} tagged images"
        selection = {
          tagStatus      = "tagged"
          tagPatternList = ["*"]
          countType      = "imageCountMoreThan"
          countNumber    = var.keep_tagged_images
        }
        action = { type = "expire" }
      },
    ]
  }

  # Pull only, and only for the named accounts (their IAM policies then decide which principals).
  # Each account is named by its root ARN; a wildcard principal is never written.
  pull_principals = [for id in sort(distinct(var.pull_account_ids)) : "arn:${local.partition}:iam::${id}:root"]

  repository_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "CrossAccountPull"
        Effect    = "Allow"
        Principal = { AWS = local.pull_principals }
        Action = [
          "ecr:BatchCheckLayerAvailability",
          "ecr:BatchGetImage",
          "ecr:GetDownloadUrlForLayer",
        ]
      },
    ]
  }
}

resource "aws_kms_key" "this" {
  description             = "ECR repositories ${join(", ", sort(var.repository_names))}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
  policy                  = jsonencode(local.kms_key_policy)

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = var.kms_key_alias
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_ecr_repository" "this" {
  for_each = var.repository_names

  name = each.value
  # A tag names one image forever: promotion resolves tags to digests, and a pushed tag can
  # never be moved under an environment that already runs it.
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_delete

  # Basic scanning on push, per repository. Enhanced (Inspector) scanning is an account-wide
  # registry setting and is left to the account's owner.
  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.this.arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy     = jsonencode(local.lifecycle_policy)
}

resource "aws_ecr_repository_policy" "this" {
  for_each = length(var.pull_account_ids) > 0 ? aws_ecr_repository.this : {}

  repository = each.value.name
  policy     = jsonencode(local.repository_policy)
}
