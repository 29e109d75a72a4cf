locals {
  role_names = { for key, w in var.workloads : key => "${var.cluster_name}-${key}" }

  # EKS Pod Identity assumes the role with session tags naming the cluster, namespace and service
  # account of the pod (the conditions AWS documents for this trust policy). Requiring them pins
  # each role to the one service account it was made for: another association in the account, or
  # one with session tags disabled, cannot use it. aws:SourceAccount is not added: AWS does not
  # document it for pods.eks.amazonaws.com, and a key missing from the request would fail the
  # condition and lock every pod out.
  trust_policies = {
    for key, w in var.workloads : key => {
      Version = "2012-10-17"
      Statement = [
        {
          Sid       = "EksPodIdentity"
          Effect    = "Allow"
          Principal = { Service = "pods.eks.amazonaws.com" }
          Action    = ["sts:AssumeRole", "sts:TagSession"]
          Condition = {
            StringEquals = {
              "aws:RequestTag/eks-cluster-name"           = var.cluster_name
              "aws:RequestTag/kubernetes-namespace"       = w.namespace
              "aws:RequestTag/kubernetes-service-account" = w.service_account
            }
          }
        },
      ]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = var.workloads

  name                 = local.role_names[each.key]
  path                 = var.role_path
  description          = "EKS Pod Identity: ${var.cluster_name} ${each.value.namespace}/${each.value.service_account}"
  assume_role_policy   = jsonencode(local.trust_policies[each.key])
  max_session_duration = var.max_session_duration_seconds
  permissions_boundary = var.permissions_boundary_arn
  # Policies attached outside Terraform must not keep a role from being replaced or deleted.
  force_detach_policies = true

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  for_each = var.workloads

  name   = each.key
  role   = aws_iam_role.this[each.key].name
  policy = each.value.policy_json
}

resource "aws_eks_pod_identity_association" "this" {
  for_each = var.workloads

  cluster_name    = var.cluster_name
  namespace       = each.value.namespace
  service_account = each.value.service_account
  role_arn        = aws_iam_role.this[each.key].arn

  tags = var.tags

  # Pods may start as soon as the association exists; the role must already have its policy.
  depends_on = [aws_iam_role_policy.this]
}
