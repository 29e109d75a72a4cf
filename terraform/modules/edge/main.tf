# The edge in front of Airflow's public ALB, which the AWS Load Balancer Controller creates from the
# airflow chart's Ingress: a WAF web ACL the Ingress names (alb.ingress.kubernetes.io/wafv2-acl-name),
# its logs, and the bucket the ALB writes its access logs to (load-balancer-attributes). Terraform
# does not create the ALB itself, so nothing here needs its ARN.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

# The Elastic Load Balancing account of the region, which writes access logs in Regions that opened
# before August 2022 (eu-west-1 among them); later Regions use the log delivery service principal.
data "aws_elb_service_account" "this" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  log_group_name = "aws-waf-logs-${var.name}" # WAF delivers only to groups with this prefix
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
  bucket_arn     = "arn:${local.partition}:s3:::${var.log_bucket_name}"
  log_objects    = "${local.bucket_arn}/${var.log_prefix}/AWSLogs/${local.account_id}/*"

  # The web ACL's rules run in the order of their priorities: the rate limit first, so that a flood
  # is dropped before the managed rule groups look at it.

  kms_key_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountRootManagesKeyThroughIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsUseForWafLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = { ArnEquals = { "kms:EncryptionContext:aws:logs:arn" = local.log_group_arn } }
      },
    ]
  }

  # WAF writes through CloudWatch Logs' log delivery service, for this account's web ACLs only.
  log_resource_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "WafDeliversLogs"
        Effect    = "Allow"
        Principal = { Service = "delivery.logs.amazonaws.com" }
        Action    = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource  = "${local.log_group_arn}:*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:*" }
        }
      },
    ]
  }

  # Elastic Load Balancing may write access logs under <prefix>/AWSLogs/<account>/ and nowhere else;
  # nobody may use the bucket without TLS. Reading the logs is granted by IAM in this account.
  bucket_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "ElbWritesAccessLogs"
        Effect    = "Allow"
        Principal = { AWS = data.aws_elb_service_account.this.arn }
        Action    = "s3:PutObject"
        Resource  = local.log_objects
      },
      {
        Sid       = "LogDeliveryWritesAccessLogs"
        Effect    = "Allow"
        Principal = { Service = "logdelivery.elasticloadbalancing.amazonaws.com" }
        Action    = "s3:PutObject"
        Resource  = local.log_objects
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:elasticloadbalancing:${local.region}:${local.account_id}:loadbalancer/*" }
        }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [local.bucket_arn, "${local.bucket_arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  }
}

################################################################################
# WAF web ACL
################################################################################

resource "aws_wafv2_web_acl" "this" {
  name        = var.name
  description = "In front of the ALB of ${var.name}: AWS managed common and known-bad-inputs rules, and a rate limit per client address"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-client"
    priority = 0

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit                 = var.rate_limit
        aggregate_key_type    = "IP"
        evaluation_window_sec = 300
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-rate-limit-per-client"
      sampled_requests_enabled   = true
    }
  }

  # The common rule set blocks bodies over 8 KB; Airflow's REST API takes larger ones (variables,
  # DAG run configurations), so that one rule only counts.
  rule {
    name     = "aws-common"
    priority = 10

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesCommonRuleSet"
        vendor_name = "AWS"

        rule_action_override {
          name = "SizeRestrictions_BODY"

          action_to_use {
            count {}
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-aws-common"
      sampled_requests_enabled   = true
    }
  }

  # Log4j (Log4JRCE), Java deserialization, exploitable host headers and paths.
  rule {
    name     = "aws-known-bad-inputs"
    priority = 20

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
        vendor_name = "AWS"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

resource "aws_kms_key" "waf_logs" {
  description             = "Encrypts the WAF logs of ${var.name}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_days
  policy                  = jsonencode(local.kms_key_policy)

  tags = var.tags
}

resource "aws_kms_alias" "waf_logs" {
  name          = "alias/${local.log_group_name}"
  target_key_id = aws_kms_key.waf_logs.key_id
}

resource "aws_cloudwatch_log_group" "waf" {
  name              = local.log_group_name
  retention_in_days = var.waf_log_retention_days
  kms_key_id        = aws_kms_key.waf_logs.arn

  tags = var.tags
}

resource "aws_cloudwatch_log_resource_policy" "waf" {
  policy_name     = local.log_group_name
  policy_document = jsonencode(local.log_resource_policy)
}

# Requests the web ACL blocked or counted, and a sample of the others, without the credentials they carry.
resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  redacted_fields {
    single_header {
      name = "authorization"
    }
  }

  redacted_fields {
    single_header {
      name = "cookie"
    }
  }

  depends_on = [aws_cloudwatch_log_resource_policy.waf]
}

################################################################################
# Access log bucket
################################################################################

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_145:ALB access logs support SSE-S3 only (Elastic Load Balancing cannot write to a bucket encrypted with SSE-KMS).
  #checkov:skip=CKV_AWS_18:This bucket holds access logs itself; logging its own access would need another bucket, and CloudTrail data events are the better audit trail where one is required.
  #checkov:skip=CKV_AWS_144:Cross-region replication is not worth its cost for access logs; versioning and the lifecycle cover accidental deletes.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events from the access log bucket.
  bucket        = var.log_bucket_name
  force_destroy = var.force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = jsonencode(local.bucket_policy)

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}
