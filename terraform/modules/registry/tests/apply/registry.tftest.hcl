# Integration test: applies the module against a local AWS emulator (a moto server started with
# MOTO_ACCOUNT_ID=444444444444, the registry account of cluster.yaml) and reads it back. Run in the
# module folder:
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
    ecr            = var.aws_endpoint
    iam            = var.aws_endpoint
    kms            = var.aws_endpoint
    secretsmanager = var.aws_endpoint
    sts            = var.aws_endpoint
  }
}

# The emulator serves no pull-through cache rules and no repository creation templates, and refuses
# ecr:BatchImportUpstreamImage in a registry policy (AWS accepts it); the plan tests
# (tests/registry.tftest.hcl) cover all three.
override_resource {
  target = aws_ecr_pull_through_cache_rule.this
  values = {}
}

override_resource {
  target = aws_ecr_repository_creation_template.pull_through_cache
  values = {}
}

override_resource {
  target = aws_ecr_registry_policy.this
  values = {}
}

# What terraform/stacks/shared/registry passes: the image repository, pulled by the dev, staging
# and prod accounts.
variables {
  repository_names             = ["airflow"]
  pull_account_ids             = ["333333333333", "111111111111", "222222222222"]
  force_delete                 = true
  kms_key_deletion_window_days = 7
}

run "apply" {
  command = apply

  assert {
    condition     = output.registry_id == "444444444444" && aws_ecr_repository.this["airflow"].registry_id == "444444444444"
    error_message = "The repository must be created in the emulated registry account (MOTO_ACCOUNT_ID=444444444444)."
  }

  assert {
    condition     = output.repository_arns == { airflow = "arn:aws:ecr:eu-west-1:444444444444:repository/airflow" } && output.repository_urls == { airflow = "444444444444.dkr.ecr.eu-west-1.amazonaws.com/airflow" }
    error_message = "The repository must be named as cluster.yaml airflow.image_repository, in the registry account."
  }

  assert {
    condition     = aws_ecr_repository.this["airflow"].image_tag_mutability == "IMMUTABLE"
    error_message = "Tags must be immutable."
  }

  assert {
    condition     = one(aws_ecr_repository.this["airflow"].image_scanning_configuration).scan_on_push == true
    error_message = "Images must be scanned on push."
  }

  assert {
    condition     = one(aws_ecr_repository.this["airflow"].encryption_configuration).encryption_type == "KMS" && one(aws_ecr_repository.this["airflow"].encryption_configuration).kms_key == aws_kms_key.this.arn && startswith(aws_kms_key.this.arn, "arn:aws:kms:eu-west-1:444444444444:key/")
    error_message = "The repository must be encrypted with the module's KMS key."
  }

  assert {
    condition     = aws_kms_alias.this.name == "alias/ecr" && aws_kms_alias.this.target_key_arn == aws_kms_key.this.arn
    error_message = "The key must carry the alias alias/ecr."
  }
}

run "read_back" {
  command = plan

  plan_options {
    mode = refresh-only
  }

  assert {
    condition     = aws_ecr_repository.this["airflow"].image_tag_mutability == "IMMUTABLE" && aws_ecr_repository.this["airflow"].arn == "arn:aws:ecr:eu-west-1:444444444444:repository/airflow"
    error_message = "Read back, the repository must exist with immutable tags."
  }

  assert {
    condition     = one(aws_ecr_repository.this["airflow"].image_scanning_configuration).scan_on_push == true
    error_message = "Read back, scan on push must be on."
  }

  assert {
    condition     = one(aws_ecr_repository.this["airflow"].encryption_configuration).encryption_type == "KMS" && one(aws_ecr_repository.this["airflow"].encryption_configuration).kms_key == aws_kms_key.this.arn
    error_message = "Read back, the repository must be encrypted with the module's key."
  }

  assert {
    condition     = [for r in jsondecode(aws_ecr_lifecycle_policy.this["airflow"].policy).rules : "${r.rulePriority}:${r.selection.tagStatus}:${r.selection.countType}:${r.selection.countNumber}"] == ["1:untagged:sinceImagePushed:14", "2:tagged:imageCountMoreThan:100"]
    error_message = "Read back, untagged images must expire after 14 days and only the newest 100 tagged images be kept."
  }

  assert {
    condition     = [for s in jsondecode(aws_ecr_repository_policy.this["airflow"].policy).Statement : s.Principal.AWS] == [["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"]]
    error_message = "Read back, exactly the three environment accounts may pull."
  }

  assert {
    condition     = toset(jsondecode(aws_ecr_repository_policy.this["airflow"].policy).Statement[0].Action) == toset(["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"])
    error_message = "Read back, the environment accounts may pull and nothing else."
  }

  assert {
    condition     = { for p, s in aws_secretsmanager_secret.upstream_credentials : p => s.name } == { docker-hub = "ecr-pullthroughcache/docker-hub", ghcr = "ecr-pullthroughcache/ghcr" }
    error_message = "Read back, the upstream login secrets exist under the names ECR requires."
  }

  assert {
    condition     = aws_ecr_registry_scanning_configuration.this.scan_type == "BASIC" && one(aws_ecr_registry_scanning_configuration.this.rule).scan_frequency == "SCAN_ON_PUSH"
    error_message = "Read back, every repository is scanned on push."
  }
}
