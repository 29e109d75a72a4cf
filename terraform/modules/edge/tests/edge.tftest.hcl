# Unit tests: plan only, against a mocked AWS provider (no credentials, no network), with dev's names.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111111111111" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_elb_service_account" {
    defaults = { arn = "arn:aws:iam::156460612806:root", id = "156460612806" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    override_during = plan
    defaults        = { arn = "arn:aws:logs:eu-west-1:111111111111:log-group:aws-waf-logs-airflow-dev-airflow" }
  }
}

variables {
  name            = "airflow-dev-airflow"
  log_bucket_name = "airflow-dev-alb-logs-111111111111"
}

run "web_acl" {
  command = plan

  assert {
    condition     = aws_wafv2_web_acl.this.name == "airflow-dev-airflow" && aws_wafv2_web_acl.this.scope == "REGIONAL" && length(one(aws_wafv2_web_acl.this.default_action).allow) == 1
    error_message = "The web ACL must be regional (an ALB's), named <cluster>-airflow as the Ingress annotation says, and allow what no rule blocks."
  }

  assert {
    condition = [for r in aws_wafv2_web_acl.this.rule : r.name if r.priority == 0] == ["rate-limit-per-client"] && alltrue([
      for r in aws_wafv2_web_acl.this.rule : try(
        one(one(r.statement).rate_based_statement).limit == 2000 && one(one(r.statement).rate_based_statement).aggregate_key_type == "IP"
        && length(one(r.action).block) == 1, false
      ) if r.name == "rate-limit-per-client"
    ])
    error_message = "The first rule must block a client address past 2000 requests in 5 minutes."
  }

  assert {
    # (terraform evaluates both sides of && and ||: try() stands in for the short circuit)
    condition = toset([
      for r in aws_wafv2_web_acl.this.rule : one(one(r.statement).managed_rule_group_statement).name
      if try(one(one(r.statement).managed_rule_group_statement).vendor_name == "AWS" && length(one(r.override_action).none) == 1, false)
    ]) == toset(["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"])
    error_message = "The AWS managed common and known-bad-inputs rule groups must apply with their own actions."
  }

  assert {
    condition = flatten([
      for r in aws_wafv2_web_acl.this.rule : [
        for o in one(one(r.statement).managed_rule_group_statement).rule_action_override : "${o.name}:${length(one(o.action_to_use).count)}"
      ] if try(length(one(r.statement).managed_rule_group_statement) > 0, false)
    ]) == ["SizeRestrictions_BODY:1"]
    error_message = "Only the body size rule may be turned to count (Airflow's API takes bodies over 8 KB); every other managed rule blocks."
  }

  assert {
    condition = (
      aws_cloudwatch_log_group.waf.name == "aws-waf-logs-airflow-dev-airflow" && aws_cloudwatch_log_group.waf.retention_in_days == 365
      && toset(aws_wafv2_web_acl_logging_configuration.this.log_destination_configs) == toset([aws_cloudwatch_log_group.waf.arn])
      && toset([for f in aws_wafv2_web_acl_logging_configuration.this.redacted_fields : one(f.single_header).name]) == toset(["authorization", "cookie"])
    )
    error_message = "The web ACL must log to aws-waf-logs-<name> for a year, without the Authorization and Cookie headers."
  }

  assert {
    condition     = aws_kms_key.waf_logs.enable_key_rotation && alltrue([for s in jsondecode(aws_kms_key.waf_logs.policy).Statement : try(s.Principal.AWS, "") == "arn:aws:iam::111111111111:root" || try(s.Condition.ArnEquals["kms:EncryptionContext:aws:logs:arn"], "") == "arn:aws:logs:eu-west-1:111111111111:log-group:aws-waf-logs-airflow-dev-airflow"])
    error_message = "The log group's key must rotate, and CloudWatch Logs may use it for this log group only."
  }
}

run "access_log_bucket" {
  command = plan

  assert {
    condition     = aws_s3_bucket.access_logs.bucket == "airflow-dev-alb-logs-111111111111" && !aws_s3_bucket.access_logs.force_destroy
    error_message = "The bucket must carry the name the Ingress annotation gives, <cluster>-alb-logs-<account>."
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.access_logs.rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "ALB access logs need SSE-S3: Elastic Load Balancing cannot write to a bucket encrypted with KMS."
  }

  assert {
    condition     = aws_s3_bucket_public_access_block.access_logs.block_public_acls && aws_s3_bucket_public_access_block.access_logs.block_public_policy && aws_s3_bucket_public_access_block.access_logs.ignore_public_acls && aws_s3_bucket_public_access_block.access_logs.restrict_public_buckets && one(aws_s3_bucket_ownership_controls.access_logs.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "The bucket must block public access and disable ACLs."
  }

  assert {
    condition = [
      for s in jsondecode(aws_s3_bucket_policy.access_logs.policy).Statement : "${jsonencode(s.Principal)} ${s.Action} ${jsonencode(s.Resource)}" if s.Effect == "Allow"
      ] == [
      "{\"AWS\":\"arn:aws:iam::156460612806:root\"} s3:PutObject \"arn:aws:s3:::airflow-dev-alb-logs-111111111111/airflow/AWSLogs/111111111111/*\"",
      "{\"Service\":\"logdelivery.elasticloadbalancing.amazonaws.com\"} s3:PutObject \"arn:aws:s3:::airflow-dev-alb-logs-111111111111/airflow/AWSLogs/111111111111/*\"",
    ]
    error_message = "Only Elastic Load Balancing may write, and only under <prefix>/AWSLogs/<account>/: the region's ELB account, or the log delivery service principal of newer regions."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_s3_bucket_policy.access_logs.policy).Statement : s.Condition.StringEquals["aws:SourceAccount"] if try(s.Principal.Service, "") != ""
    ]) == "111111111111" && length([for s in jsondecode(aws_s3_bucket_policy.access_logs.policy).Statement : s if try(s.Effect == "Deny" && s.Condition.Bool["aws:SecureTransport"] == "false", false)]) == 1
    error_message = "The service principal may write for this account's load balancers only, and nobody may use the bucket without TLS."
  }

  assert {
    condition     = one(aws_s3_bucket_lifecycle_configuration.access_logs.rule).status == "Enabled" && one(one(aws_s3_bucket_lifecycle_configuration.access_logs.rule).expiration).days == 365 && one(aws_s3_bucket_versioning.access_logs.versioning_configuration).status == "Enabled"
    error_message = "The bucket must be versioned and its logs must expire."
  }
}

run "custom_limit_and_prefix" {
  command = plan

  variables {
    rate_limit = 500
    log_prefix = "edge"
  }

  assert {
    condition     = one([for r in aws_wafv2_web_acl.this.rule : one(one(r.statement).rate_based_statement).limit if r.priority == 0]) == 500
    error_message = "The rate limit must follow rate_limit."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_s3_bucket_policy.access_logs.policy).Statement : s.Resource == "arn:aws:s3:::airflow-dev-alb-logs-111111111111/edge/AWSLogs/111111111111/*" if s.Effect == "Allow"])
    error_message = "The write permission must follow log_prefix."
  }
}

run "rejects_a_prefix_with_awslogs" {
  command = plan

  variables {
    log_prefix = "x/AWSLogs"
  }

  expect_failures = [var.log_prefix]
}

run "rejects_a_bad_bucket_name" {
  command = plan

  variables {
    log_bucket_name = "Airflow_Dev"
  }

  expect_failures = [var.log_bucket_name]
}

run "rejects_a_rate_limit_below_waf_minimum" {
  command = plan

  variables {
    rate_limit = 5
  }

  expect_failures = [var.rate_limit]
}
