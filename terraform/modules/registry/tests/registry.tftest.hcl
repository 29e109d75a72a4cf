# Unit tests: plan only, against a mocked AWS provider. The KMS key ARN is fixed during the plan so
# that the repositories' encryption can be compared with it.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "999999999999" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
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

run "pull_through_cache" {
  command = plan

  assert {
    condition = { for prefix, rule in aws_ecr_pull_through_cache_rule.this : prefix => rule.upstream_registry_url } == {
      docker-hub      = "registry-1.docker.io"
      ghcr            = "ghcr.io"
      quay            = "quay.io"
      registry-k8s-io = "registry.k8s.io"
      ecr-public      = "public.ecr.aws"
    }
    error_message = "Every upstream the platform pulls from is cached under its own prefix."
  }

  assert {
    condition     = keys(aws_secretsmanager_secret.upstream_credentials) == ["docker-hub", "ghcr"] && alltrue([for p, s in aws_secretsmanager_secret.upstream_credentials : s.name == "ecr-pullthroughcache/${p}"])
    error_message = "Docker Hub and ghcr.io get a login secret named as ECR requires (ecr-pullthroughcache/<prefix>); the others need none."
  }

  assert {
    condition     = alltrue([for p, t in aws_ecr_repository_creation_template.pull_through_cache : t.image_tag_mutability == "IMMUTABLE" && t.applied_for == toset(["PULL_THROUGH_CACHE"]) && one(t.encryption_configuration).kms_key == aws_kms_key.this.arn])
    error_message = "Cached repositories get immutable tags and the registry's KMS key."
  }

  assert {
    condition     = alltrue([for p, t in aws_ecr_repository_creation_template.pull_through_cache : jsondecode(t.lifecycle_policy) == jsondecode(aws_ecr_lifecycle_policy.this["airflow"].policy) && jsondecode(t.repository_policy).Statement[0].Principal.AWS == ["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"]])
    error_message = "Cached repositories get the same lifecycle as ours and pull access for exactly the environment accounts."
  }

  assert {
    condition = (
      toset(jsondecode(aws_ecr_registry_policy.this[0].policy).Statement[0].Action) == toset(["ecr:CreateRepository", "ecr:BatchImportUpstreamImage"]) &&
      jsondecode(aws_ecr_registry_policy.this[0].policy).Statement[0].Resource == [for p in ["docker-hub", "ecr-public", "ghcr", "quay", "registry-k8s-io"] : "arn:aws:ecr:eu-west-1:999999999999:repository/${p}/*"]
    )
    error_message = "The environment accounts may fill the cache, under the cache's prefixes only."
  }

  assert {
    condition     = jsondecode(aws_iam_role.repository_creation.assume_role_policy).Statement[0].Principal == { Service = "ecr.amazonaws.com" } && alltrue([for s in jsondecode(aws_iam_role_policy.repository_creation.policy).Statement : s.Resource != "*"])
    error_message = "Only ECR assumes the repository-creation role, and it names every resource it may touch."
  }

  assert {
    condition     = one(aws_ecr_registry_scanning_configuration.this.rule).scan_frequency == "SCAN_ON_PUSH"
    error_message = "Every repository, cached ones included, is scanned on push."
  }
}

run "docker_hub_without_a_login_is_refused" {
  command = plan

  variables {
    pull_through_cache_rules = {
      docker-hub = { upstream_registry_url = "registry-1.docker.io" }
    }
  }

  expect_failures = [var.pull_through_cache_rules]
}
