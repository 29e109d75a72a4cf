# The AWS side of the dev environment: everything but the Kubernetes objects, which Argo CD syncs.
# Apply after `invoke tf-backend --env dev`; then `invoke secrets-init --env dev`, then ../bootstrap.

terraform {
  required_version = ">= 1.9, < 2.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }

  # Created by `invoke tf-backend --env dev`: versioned, encrypted, public access blocked.
  backend "s3" {
    bucket       = "airflow-dev-tfstate-111111111111"
    key          = "dev/platform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}

locals {
  # The one description of the environment, also read by invoke and by Argo CD's side of the repo.
  cluster = yamldecode(file("${path.module}/../../../../clusters/dev/cluster.yaml"))
}

provider "aws" {
  region              = local.cluster.aws.region
  allowed_account_ids = [local.cluster.aws.account_id]

  default_tags {
    tags = {
      "platform.airflow/managed-by" = "terraform/stacks/dev/platform"
    }
  }
}

module "platform" {
  source = "../../../modules/platform"

  cluster              = local.cluster
  admin_principal_arns = var.admin_principal_arns
}
