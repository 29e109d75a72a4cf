# Unit tests: plan only, against a mocked AWS provider. The KMS key ARN is fixed during the plan so
# that the repositories' encryption can be compared with it.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "999999999999" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_resource "aws_kms_key" {
    override_during = plan
    defaults = {
      arn    = "arn:aws:kms:eu-west-1:999999999999:key/00000000-0000-0000-0000-000000000003"
      key_id = "00000000-0000-0000-0000-000000000003"
    }
  }
}

variables {
  repository_names = ["airflow"]
  pull_account_ids = ["111111111111", "222222222222", "333333333333"]
}

run "shared_registry" {
  command = plan

  assert {
    condition     = keys(aws_ecr_repository.this) == ["airflow"] && aws_ecr_repository.this["airflow"].name == "airflow"
    error_message = "One repository per name, named exactly as cluster.yaml airflow.image_repository."
  }

  assert {
    condition     = aws_ecr_repository.this["airflow"].image_tag_mutability == "IMMUTABLE" && aws_ecr_repository.this["airflow"].force_delete == false
    error_message = "Tags must be immutable and the repository must not be force-deleted."
  }

  assert {
    condition     = one(aws_ecr_repository.this["airflow"].image_scanning_configuration).scan_on_push == true
    error_message = "Images must be scanned on push."
  }

  assert {
    condition     = one(aws_ecr_repository.this["airflow"].encryption_configuration).encryption_type == "KMS" && one(aws_ecr_repository.this["airflow"].encryption_configuration).kms_key == aws_kms_key.this.arn && aws_kms_key.this.enable_key_rotation == true
    error_message = "Repositories must be encrypted with the module's rotating KMS key."
  }

  assert {
    condition     = [for s in jsondecode(aws_ecr_repository_policy.this["airflow"].policy).Statement : s.Principal.AWS] == [["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"]]
    error_message = "Pull must be granted to exactly the environment accounts."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_ecr_repository_policy.this["airflow"].policy).Statement : s.Principal != "*" && !contains(flatten([s.Principal.AWS]), "*")])
    error_message = "The repository policy must never name a wildcard principal."
  }

  assert {
    condition     = toset(jsondecode(aws_ecr_repository_policy.this["airflow"].policy).Statement[0].Action) == toset(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"])
    error_message = "Environment accounts may pull, and do nothing else."
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_kms_key.this.policy).Statement : try(s.Principal.AWS, "") == "arn:aws:iam::999999999999:root"])
    error_message = "The KMS key policy may name only the registry account itself."
  }

  assert {
    condition     = output.registry_id == "999999999999"
    error_message = "registry_id is the registry account."
  }
}

run "lifecycle" {
  command = plan

  variables {
    keep_tagged_images         = 30
    untagged_image_expiry_days = 7
  }

  assert {
    condition     = [for r in jsondecode(aws_ecr_lifecycle_policy.this["airflow"].policy).rules : "${r.rulePriority}:${r.selection.tagStatus}:${r.selection.countType}:${r.selection.countNumber}:${r.action.type}"] == ["1:untagged:sinceImagePushed:7:expire", "2:tagged:imageCountMoreThan:30:expire"]
    error_message = "Untagged images expire after N days, and only the newest N tagged images are kept."
  }

  assert {
    condition     = jsondecode(aws_ecr_lifecycle_policy.this["airflow"].policy).rules[1].selection.tagPatternList == ["*"]
    error_message = "The count rule must cover every tag."
  }
}

run "several_repositories_same_account_only" {
  command = plan

  variables {
    repository_names = ["airflow", "tools/airflow-ci"]
    pull_account_ids = []
  }

  assert {
    condition     = length(aws_ecr_repository.this) == 2 && length(aws_ecr_lifecycle_policy.this) == 2
    error_message = "Each repository gets its lifecycle policy."
  }

  assert {
    condition     = length(aws_ecr_repository_policy.this) == 0
    error_message = "Without pull accounts no repository policy is written (same-account access is IAM's)."
  }

  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.image_tag_mutability == "IMMUTABLE"])
    error_message = "Every repository is immutable."
  }
}

run "rejects_wildcard_or_arn_principal" {
  command = plan

  variables {
    pull_account_ids = ["*", "arn:aws:iam::111111111111:root"]
  }

  expect_failures = [var.pull_account_ids]
}

run "rejects_bad_repository_name" {
  command = plan

  variables {
    repository_names = ["Airflow Image"]
  }

  expect_failures = [var.repository_names]
}

run "rejects_tiny_retention" {
  command = plan

  variables {
    keep_tagged_images = 2
  }

  expect_failures = [var.keep_tagged_images]
}
