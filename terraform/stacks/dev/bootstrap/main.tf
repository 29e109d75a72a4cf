# Argo CD and the root Application in the dev cluster. A separate layer from ../platform: the cluster
# must exist before anything is installed into it, and destroying it never waits on Kubernetes.

terraform {
  required_version = ">= 1.9, < 2.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "3.1.1"
    }
  }

  backend "s3" {
    bucket       = "airflow-dev-tfstate-111111111111"
    key          = "dev/bootstrap.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}

locals {
  cluster = yamldecode(file("${path.module}/../../../../clusters/dev/cluster.yaml"))
}

# The platform layer's state, where its backend block puts it: bucket, key and region follow from
# cluster.yaml here; invoke check proves them equal to ../platform's backend.
data "terraform_remote_state" "platform" {
  backend = "s3"
  config = {
    bucket = "${local.cluster.cluster.name}-tfstate-${local.cluster.aws.account_id}"
    key    = "${local.cluster.environment}/platform.tfstate"
    region = local.cluster.aws.region
  }
}

provider "aws" {
  region              = local.cluster.aws.region
  allowed_account_ids = [local.cluster.aws.account_id]
}

# A short-lived token from the caller's AWS identity, which needs an access entry on the cluster.
data "aws_eks_cluster_auth" "this" {
  name = data.terraform_remote_state.platform.outputs.platform.cluster_name
}

provider "helm" {
  kubernetes = {
    host                   = data.terraform_remote_state.platform.outputs.platform.cluster_endpoint
    cluster_ca_certificate = base64decode(data.terraform_remote_state.platform.outputs.platform.cluster_certificate_authority_data)
    token                  = data.aws_eks_cluster_auth.this.token
  }
}

module "argocd" {
  source = "../../../modules/argocd-bootstrap"

  environment = "dev"
  repo_root   = "${path.module}/../../../.."
}
