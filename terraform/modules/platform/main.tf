# The AWS side of one environment, composed from the modules beside this one. Every name is
# derived from cluster.yaml (see terraform/README.md (Conventions)); invoke check proves the cluster side agrees.

locals {
  name       = var.cluster.cluster.name
  account_id = var.cluster.aws.account_id
  region     = var.cluster.aws.region
  tags = merge(var.tags, {
    "platform.airflow/environment" = var.cluster.environment
    "platform.airflow/cluster"     = local.name
  })

  # Secrets Manager names under "<cluster>/": generated once by `invoke secrets-init`, or written
  # here from values that are not secret. The ExternalSecrets in apps/airflow read exactly these.
  secret_prefix = "${local.name}/"
  generated_secrets = [
    "airflow/fernet-key",
    "airflow/api-secret-key",
    "airflow/jwt-secret",
    "airflow/redis-password",
    "airflow/pgbouncer-client-password",
    "airflow/metadata-db-password",
  ]
  cognito_secret     = "airflow/cognito"
  metadata_db_secret = "airflow/metadata-db"

  logs_bucket = "${local.name}-logs-${local.account_id}"
  # The edge of Airflow's ALB, by the names the Ingress annotations give (clusters/<env>/values/airflow.yaml).
  alb_logs_bucket  = "${local.name}-alb-logs-${local.account_id}"
  web_acl_name     = "${local.name}-airflow"
  database_name    = "${local.name}-airflow"
  karpenter_policy = "karpenter-controller"
  # Karpenter's controller role and association come with the karpenter module; the rest here.
  workloads = {
    for key, w in var.cluster.workload_identities : key => w if w.policy != local.karpenter_policy
  }
  karpenter_identity = one([for w in values(var.cluster.workload_identities) : w if w.policy == local.karpenter_policy])
}

module "network" {
  source = "../network"

  permissions_boundary_arn = module.guardrails.permissions_boundary_arn
  name                     = local.name
  vpc_cidr                 = var.cluster.network.vpc_cidr
  availability_zones       = var.cluster.network.availability_zones
  single_nat_gateway       = var.cluster.network.single_nat_gateway
  tags                     = local.tags
}

module "cluster" {
  source = "../cluster"

  permissions_boundary_arn     = module.guardrails.permissions_boundary_arn
  name                         = local.name
  kubernetes_version           = var.cluster.cluster.kubernetes_version
  vpc_id                       = module.network.vpc_id
  subnet_ids                   = module.network.private_subnet_ids
  endpoint_public_access_cidrs = var.cluster.cluster.endpoint_public_access_cidrs
  admin_principal_arns         = concat(var.admin_principal_arns, [local.ci_apply_role_arn])
  system_node_group            = var.cluster.cluster.system_node_group
  tags                         = local.tags
}

module "karpenter" {
  source = "../karpenter"

  permissions_boundary_arn = module.guardrails.permissions_boundary_arn
  cluster_name             = module.cluster.cluster_name
  namespace                = local.karpenter_identity.namespace
  service_account          = local.karpenter_identity.service_account
  tags                     = local.tags
}

module "database" {
  source = "../database"

  permissions_boundary_arn   = module.guardrails.permissions_boundary_arn
  identifier                 = local.database_name
  instance_class             = var.cluster.database.instance_class
  allocated_storage_gb       = var.cluster.database.allocated_storage_gb
  multi_az                   = var.cluster.database.multi_az
  deletion_protection        = var.cluster.database.deletion_protection
  backup_retention_days      = var.cluster.database.backup_retention_days
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.private_subnet_ids
  allowed_security_group_ids = [module.cluster.node_security_group_id] # PgBouncer and Airflow run on nodes only
  tags                       = local.tags
}

module "storage" {
  source = "../storage"

  bucket_name = local.logs_bucket
  tags        = local.tags
}

module "edge" {
  source = "../edge"

  name            = local.web_acl_name
  log_bucket_name = local.alb_logs_bucket
  tags            = local.tags
}

module "secrets" {
  source = "../secrets"

  name_prefix       = local.secret_prefix
  generated_secrets = local.generated_secrets
  plain_values = {
    (local.metadata_db_secret) = {
      host   = module.database.address
      port   = module.database.port
      dbname = module.database.db_name
    }
  }
  # A deleted secret stays recoverable for the longest window where data is protected.
  recovery_window_days = var.cluster.database.deletion_protection ? 30 : 7
  tags                 = local.tags
}

module "identity" {
  source = "../identity"

  name                = local.name
  hostname            = var.cluster.airflow.hostname
  domain_prefix       = local.name
  secret_name         = "${local.secret_prefix}${local.cognito_secret}"
  kms_key_arn         = module.secrets.kms_key_arn
  deletion_protection = var.cluster.database.deletion_protection
  tags                = local.tags
}

module "workload_iam" {
  source = "../workload-iam"

  permissions_boundary_arn = module.guardrails.permissions_boundary_arn
  cluster_name             = module.cluster.cluster_name
  workloads = {
    for key, w in local.workloads : key => {
      namespace       = w.namespace
      service_account = w.service_account
      policy_json     = local.policy_documents[w.policy]
    }
  }
  tags = local.tags
}
