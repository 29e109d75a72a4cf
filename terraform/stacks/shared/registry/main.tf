# The one ECR registry every environment pulls from (cluster.yaml `registry`). CI pushes each image
# once; promotion moves pins between environments, never images. Its own account and state, so no
# environment's stack can change what another environment runs.

terraform {
  required_version = ">= 1.9, < 2.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }

  # Created by `invoke tf-backend --registry`.
  backend "s3" {
    bucket       = "airflow-registry-tfstate-444444444444"
    key          = "shared/registry.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}

locals {
  clusters_dir = "${path.module}/../../../../clusters"
  clusters = {
    for f in fileset(local.clusters_dir, "*/cluster.yaml") :
    dirname(f) => yamldecode(file("${local.clusters_dir}/${f}"))
  }
  # Every environment names the same registry; the first one (by name) is authoritative, and
  # invoke check fails when they disagree.
  registry   = local.clusters[sort(keys(local.clusters))[0]].registry
  repository = distinct([for c in values(local.clusters) : c.airflow.image_repository])
  pull_accounts = sort(distinct([
    for c in values(local.clusters) : c.aws.account_id if c.aws.account_id != local.registry.account_id
  ]))
}

provider "aws" {
  region              = local.registry.region
  allowed_account_ids = [local.registry.account_id]
}

module "registry" {
  source = "../../../modules/registry"

  repository_names = local.repository
  pull_account_ids = local.pull_accounts
}

output "repository_urls" {
  description = "Image repository URL by name."
  value       = module.registry.repository_urls
}
