# Integration test: applies the module against a local AWS emulator (a moto server started with
# MOTO_ACCOUNT_ID=111111111111, dev's account) and reads it back. Run in the module folder:
#   terraform init -backend=false -test-directory=tests/apply
#   terraform test -test-directory=tests/apply -var='aws_endpoint="http://127.0.0.1:<port>"'
# The value is quoted because aws_endpoint is not a module variable. A plain `terraform test`
# does not look in tests/apply; tests/terraform/test_module_apply.py runs this file.

provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true

  endpoints {
    logs  = var.aws_endpoint
    kms   = var.aws_endpoint
    s3    = var.aws_endpoint
    sts   = var.aws_endpoint
    wafv2 = var.aws_endpoint
  }
}

# The names the platform module derives for dev.
variables {
  name                         = "airflow-dev-airflow"
  log_bucket_name              = "airflow-dev-alb-logs-111111111111"
  force_destroy                = true
  kms_key_deletion_window_days = 7
}

run "apply" {
  command = apply

  assert {
    condition     = output.web_acl_name == "airflow-dev-airflow" && startswith(output.web_acl_arn, "arn:aws:wafv2:eu-west-1:111111111111:regional/webacl/airflow-dev-airflow/")
    error_message = "The web ACL must be created in the emulated account and region, under the name the Ingress annotation gives."
  }

  assert {
    condition     = length(aws_wafv2_web_acl.this.rule) == 3 && aws_wafv2_web_acl_logging_configuration.this.resource_arn == aws_wafv2_web_acl.this.arn
    error_message = "The web ACL must have its three rules and log to its log group."
  }

  assert {
    condition     = output.log_bucket_name == "airflow-dev-alb-logs-111111111111" && output.log_bucket_arn == "arn:aws:s3:::airflow-dev-alb-logs-111111111111"
    error_message = "The access log bucket must be named <cluster>-alb-logs-<account>."
  }
}

run "read_back" {
  command = plan

  plan_options {
    mode = refresh-only
  }

  assert {
    condition = toset([
      for r in aws_wafv2_web_acl.this.rule : "${r.priority}:${r.name}"
    ]) == toset(["0:rate-limit-per-client", "10:aws-common", "20:aws-known-bad-inputs"])
    error_message = "Read back, the web ACL must hold the rate limit, then the common and known-bad-inputs rule groups."
  }

  assert {
    condition     = one([for r in aws_wafv2_web_acl.this.rule : one(one(r.statement).rate_based_statement).limit if r.priority == 0]) == 2000
    error_message = "Read back, the rate limit must be 2000 requests per 5 minutes."
  }

  assert {
    condition     = aws_cloudwatch_log_group.waf.name == "aws-waf-logs-airflow-dev-airflow" && aws_cloudwatch_log_group.waf.kms_key_id == aws_kms_key.waf_logs.arn && aws_cloudwatch_log_group.waf.retention_in_days == 365
    error_message = "Read back, the web ACL's log group must be encrypted with the module's key and keep a year."
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.access_logs.rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256" && one(aws_s3_bucket_versioning.access_logs.versioning_configuration).status == "Enabled"
    error_message = "Read back, the access log bucket must be versioned with SSE-S3."
  }

  assert {
    condition     = [for s in jsondecode(aws_s3_bucket_policy.access_logs.policy).Statement : s.Sid] == ["ElbWritesAccessLogs", "LogDeliveryWritesAccessLogs", "DenyInsecureTransport"]
    error_message = "Read back, the bucket policy must let Elastic Load Balancing write the logs and refuse requests without TLS."
  }

  assert {
    condition     = one(aws_s3_bucket_ownership_controls.access_logs.rule).object_ownership == "BucketOwnerEnforced" && aws_s3_bucket_public_access_block.access_logs.restrict_public_buckets
    error_message = "Read back, the bucket must block public access, with ACLs disabled."
  }
}
