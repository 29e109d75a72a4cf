output "cluster_name" {
  description = "The EKS cluster's name."
  value       = module.cluster.cluster_name
}

output "cluster_endpoint" {
  description = "The EKS API endpoint, for the bootstrap layer's Helm provider."
  value       = module.cluster.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "The cluster CA (base64), for the bootstrap layer's Helm provider."
  value       = module.cluster.cluster_certificate_authority_data
}

output "vpc_id" {
  description = "The VPC's ID."
  value       = module.network.vpc_id
}

output "logs_bucket" {
  description = "The S3 bucket for Airflow's remote logs."
  value       = module.storage.bucket_name
}

output "web_acl_name" {
  description = "The WAF web ACL in front of Airflow's ALB (the Ingress annotation alb.ingress.kubernetes.io/wafv2-acl-name)."
  value       = module.edge.web_acl_name
}

output "alb_logs_bucket" {
  description = "The S3 bucket of the ALB's access logs (the Ingress annotation's access_logs.s3.bucket)."
  value       = module.edge.log_bucket_name
}

output "database_identifier" {
  description = "The RDS instance of the Airflow metadata database."
  value       = module.database.identifier
}

output "karpenter_queue_name" {
  description = "Karpenter's interruption queue (settings.interruptionQueue)."
  value       = module.karpenter.queue_name
}

output "karpenter_node_role_name" {
  description = "The IAM role of Karpenter's nodes (EC2NodeClass spec.role)."
  value       = module.karpenter.node_role_name
}

output "secret_names" {
  description = "Every Secrets Manager secret this environment's ExternalSecrets may read."
  value       = concat(module.secrets.secret_names, ["${local.secret_prefix}${local.cognito_secret}"])
}

output "cognito" {
  description = "The Cognito user pool, client and hosted domain for Airflow's login."
  value = {
    user_pool_id = module.identity.user_pool_id
    client_id    = module.identity.client_id
    domain       = module.identity.domain
    issuer_url   = module.identity.issuer_url
  }
}

output "workload_roles" {
  description = "IAM role ARN of each workload identity, by its cluster.yaml key."
  value       = merge(module.workload_iam.role_arns, { karpenter = module.karpenter.controller_role_arn })
}

output "pod_identity_associations" {
  description = "Namespace and service account of every Pod Identity association (the contract with the cluster side)."
  value = merge(module.workload_iam.associations, {
    karpenter = { namespace = local.karpenter_identity.namespace, service_account = local.karpenter_identity.service_account }
  })
}

output "ci_role_arns" {
  description = "Roles of this environment's GitHub workflows, by name: `terraform-plan` (the repository variable AWS_PLAN_ROLE_ARN_<ENV>) and `terraform-apply` (AWS_APPLY_ROLE_ARN of the GitHub environment <env>)."
  value       = module.ci_roles.role_arns
}
