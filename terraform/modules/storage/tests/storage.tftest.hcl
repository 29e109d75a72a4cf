# Unit tests: plan only, against a mocked AWS provider. The KMS key ARN is fixed during the plan so
# that the encryption settings can be compared with it.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111111111111" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_kms_key" {
    override_during = plan
    defaults = {
      arn    = "arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-0000-0000-000000000002"
      key_id = "00000000-0000-0000-0000-000000000002"
    }
  }
}

variables {
  bucket_name = "airflow-dev-logs-111111111111"
}

run "defaults" {
  command = plan

  assert {
    condition     = aws_s3_bucket.this.bucket == "airflow-dev-logs-111111111111" && aws_s3_bucket.this.force_destroy == false
    error_message = "The bucket must carry the contract name <cluster>-logs-<account_id> and not be force-destroyed."
  }

  assert {
    condition     = aws_s3_bucket_public_access_block.this.block_public_acls && aws_s3_bucket_public_access_block.this.block_public_policy && aws_s3_bucket_public_access_block.this.ignore_public_acls && aws_s3_bucket_public_access_block.this.restrict_public_buckets
    error_message = "All four public access block settings must be true."
  }

  assert {
    condition     = one(aws_s3_bucket_ownership_controls.this.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled (BucketOwnerEnforced)."
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
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.this.rule).bucket_key_enabled == true && aws_kms_key.this.enable_key_rotation == true
    error_message = "The bucket key must be on and the KMS key must rotate."
  }

  assert {
    condition     = length([for s in jsondecode(aws_s3_bucket_policy.this.policy).Statement : s if s.Effect == "Deny" && try(s.Condition.Bool["aws:SecureTransport"], "") == "false" && contains(s.Resource, "arn:aws:s3:::airflow-dev-logs-111111111111/*")]) == 1
    error_message = "The bucket policy must deny requests that do not use TLS, on the bucket and its objects."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_s3_bucket_policy.this.policy).Statement : s.Effect == "Deny"])
    error_message = "The bucket policy may only deny; it must never grant anything to a (wildcard) principal."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_kms_key.this.policy).Statement : try(s.Principal.AWS, "") == "arn:aws:iam::111111111111:root"])
    error_message = "The KMS key policy may name only the account itself, never a wildcard principal."
  }

  assert {
    condition     = length(aws_s3_bucket_logging.this) == 0 && output.kms_key_arn == aws_kms_key.this.arn
    error_message = "Without a target there is no server access logging; the key is an output."
  }
}

run "lifecycle" {
  command = plan

  variables {
    log_retention_days                     = 90
    transition_to_ia_days                  = 30
    noncurrent_version_expiration_days     = 14
    abort_incomplete_multipart_upload_days = 3
  }

  assert {
    condition     = one(aws_s3_bucket_lifecycle_configuration.this.rule).status == "Enabled" && one(one(aws_s3_bucket_lifecycle_configuration.this.rule).expiration).days == 90
    error_message = "Log objects must expire after log_retention_days."
  }

  assert {
    condition     = [for t in one(aws_s3_bucket_lifecycle_configuration.this.rule).transition : "${t.storage_class}:${t.days}"] == ["STANDARD_IA:30"]
    error_message = "Log objects must move to STANDARD_IA after transition_to_ia_days."
  }

  assert {
    condition     = one(one(aws_s3_bucket_lifecycle_configuration.this.rule).noncurrent_version_expiration).noncurrent_days == 14
    error_message = "Noncurrent versions must expire."
  }

  assert {
    condition     = one(one(aws_s3_bucket_lifecycle_configuration.this.rule).abort_incomplete_multipart_upload).days_after_initiation == 3
    error_message = "Incomplete multipart uploads must be aborted."
  }
}

run "no_transition_and_access_logs" {
  command = plan

  variables {
    log_retention_days    = 14
    transition_to_ia_days = null
    access_log_target     = { bucket = "org-s3-access-logs-111111111111", prefix = "airflow-dev-logs/" }
  }

  assert {
    condition     = length(one(aws_s3_bucket_lifecycle_configuration.this.rule).transition) == 0
    error_message = "With transition_to_ia_days = null there is no transition."
  }

  assert {
    condition     = aws_s3_bucket_logging.this[0].target_bucket == "org-s3-access-logs-111111111111" && aws_s3_bucket_logging.this[0].target_prefix == "airflow-dev-logs/"
    error_message = "Server access logs must go to the given target."
  }
}

run "rejects_bad_bucket_name" {
  command = plan

  variables {
    bucket_name = "Airflow_Dev_Logs"
  }

  expect_failures = [var.bucket_name]
}

run "rejects_transition_too_early_or_after_expiry" {
  command = plan

  variables {
    log_retention_days    = 20
    transition_to_ia_days = 25
  }

  expect_failures = [var.transition_to_ia_days]
}

run "rejects_logging_into_itself" {
  command = plan

  variables {
    access_log_target = { bucket = "airflow-dev-logs-111111111111" }
  }

  expect_failures = [var.access_log_target]
}
