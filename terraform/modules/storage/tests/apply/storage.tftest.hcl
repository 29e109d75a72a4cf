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
    kms = var.aws_endpoint
    s3  = var.aws_endpoint
    sts = var.aws_endpoint
  }
}

# The name the platform module derives for dev: <cluster>-logs-<account>.
variables {
  bucket_name                  = "airflow-dev-logs-111111111111"
  force_destroy                = true
  kms_key_deletion_window_days = 7
}

run "apply" {
  command = apply

  assert {
    condition     = aws_s3_bucket.this.id == "airflow-dev-logs-${data.aws_caller_identity.current.account_id}" && data.aws_caller_identity.current.account_id == "111111111111"
    error_message = "The bucket must be named <cluster>-logs-<account> after the emulated account (MOTO_ACCOUNT_ID=111111111111)."
  }

  assert {
    condition     = output.bucket_arn == "arn:aws:s3:::airflow-dev-logs-111111111111" && aws_s3_bucket.this.region == "eu-west-1"
    error_message = "The bucket ARN and region must be the real ones."
  }

  assert {
    condition     = one(aws_s3_bucket_versioning.this.versioning_configuration).status == "Enabled"
    error_message = "Versioning must be on."
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" && one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).kms_master_key_id == aws_kms_key.this.arn
    error_message = "Default encryption must be SSE-KMS with the module's key."
  }

  assert {
    condition     = startswith(aws_kms_key.this.arn, "arn:aws:kms:eu-west-1:111111111111:key/") && output.kms_key_arn == aws_kms_key.this.arn && aws_kms_alias.this.name == "alias/s3-airflow-dev-logs-111111111111"
    error_message = "The bucket key must be created in the emulated account, with its alias."
  }

  assert {
    condition     = aws_s3_bucket_public_access_block.this.block_public_acls && aws_s3_bucket_public_access_block.this.block_public_policy && aws_s3_bucket_public_access_block.this.ignore_public_acls && aws_s3_bucket_public_access_block.this.restrict_public_buckets
    error_message = "All four public access block settings must be on."
  }
}

run "read_back" {
  command = plan

  plan_options {
    mode = refresh-only
  }

  assert {
    condition     = aws_s3_bucket.this.bucket == "airflow-dev-logs-111111111111" && aws_s3_bucket.this.arn == "arn:aws:s3:::airflow-dev-logs-111111111111"
    error_message = "Read back, the bucket must exist under its contract name."
  }

  assert {
    condition     = one(aws_s3_bucket_versioning.this.versioning_configuration).status == "Enabled"
    error_message = "Read back, versioning must be on."
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" && one(one(aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).kms_master_key_id == aws_kms_key.this.arn && one(aws_s3_bucket_server_side_encryption_configuration.this.rule).bucket_key_enabled
    error_message = "Read back, default encryption must be SSE-KMS with the module's key and a bucket key."
  }

  assert {
    condition     = one(aws_s3_bucket_ownership_controls.this.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "Read back, ACLs must be disabled (BucketOwnerEnforced)."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_s3_bucket_policy.this.policy).Statement : s.Effect == "Deny"]) && length([for s in jsondecode(aws_s3_bucket_policy.this.policy).Statement : s if try(s.Condition.Bool["aws:SecureTransport"], "") == "false"]) == 1
    error_message = "Read back, the bucket policy must only deny, including requests without TLS."
  }

  assert {
    condition     = [for r in aws_s3_bucket_lifecycle_configuration.this.rule : "${r.id}:${r.status}:${one(r.expiration).days}:${one(r.noncurrent_version_expiration).noncurrent_days}"] == ["expire-logs:Enabled:365:30"]
    error_message = "Read back, the lifecycle rule must expire logs after 365 days and old versions after 30."
  }

  assert {
    condition     = aws_kms_key.this.enable_key_rotation && alltrue([for s in jsondecode(aws_kms_key.this.policy).Statement : s.Principal.AWS == "arn:aws:iam::111111111111:root"])
    error_message = "Read back, the key must rotate and its policy name only the emulated account."
  }
}
