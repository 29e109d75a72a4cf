output "cluster_name" {
  description = "Name of the EKS cluster (equals `name`; read from the cluster, so consumers wait for it)."
  value       = aws_eks_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the EKS cluster."
  value       = aws_eks_cluster.this.arn
}

output "cluster_endpoint" {
  description = "URL of the Kubernetes API server."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64-encoded certificate authority of the Kubernetes API server."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_version" {
  description = "Kubernetes minor version of the control plane."
  value       = aws_eks_cluster.this.version
}

output "cluster_security_group_id" {
  description = "ID of the module's cluster security group, on the control plane's network interfaces, with the rules to and from the nodes."
  value       = aws_security_group.cluster.id
}

output "cluster_primary_security_group_id" {
  description = "ID of the security group EKS creates for the cluster itself (on the control plane and on managed nodes without their own security groups)."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "node_security_group_tags" {
  description = "The tags the cluster side selects the node security group by (Karpenter's discovery tag, the Load Balancer Controller's cluster tags), without var.tags."
  value       = local.node_security_group_tags
}

output "node_security_group_id" {
  description = "ID of the node security group (tagged `karpenter.sh/discovery = <name>`), shared by the system node group and Karpenter's nodes."
  value       = aws_security_group.node.id
}

output "node_role_arn" {
  description = "ARN of the IAM role of the system managed node group."
  value       = aws_iam_role.node.arn
}

output "node_role_name" {
  description = "Name of the IAM role of the system managed node group."
  value       = aws_iam_role.node.name
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts Kubernetes Secrets and the control plane log group."
  value       = aws_kms_key.this.arn
}

output "cluster_log_group_name" {
  description = "Name of the CloudWatch Logs group of the control plane logs."
  value       = aws_cloudwatch_log_group.cluster.name
}

output "ebs_csi_driver_role_arn" {
  description = "ARN of the IAM role bound to kube-system/ebs-csi-controller-sa through Pod Identity."
  value       = aws_iam_role.ebs_csi.arn
}

output "addon_versions" {
  description = "The EKS add-on versions in use, by add-on name (defaults merged with `addon_versions`)."
  value       = local.addon_versions
}
