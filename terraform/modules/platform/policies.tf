# One least-privilege policy per `policy` key that cluster.yaml workload_identities may name.
# Built with jsonencode rather than aws_iam_policy_document so that the plan-mode tests can read the
# statements. Actions AWS cannot scope to a resource (List*, Describe*) are the only ones on "*".

data "aws_partition" "current" {}

data "aws_route53_zone" "public" {
  name         = var.cluster.dns.zone
  private_zone = false
}

locals {
  partition = data.aws_partition.current.partition

  # The Load Balancer Controller's tag on everything it creates, and the node security group's
  # (terraform/modules/cluster); upstream's policy for the pinned version, kept verbatim beside this file.
  lbc_tag              = "elbv2.k8s.aws/cluster"
  lbc_upstream_version = "v3.5.0"
  lbc_upstream_policy  = jsondecode(file("${path.module}/policies/aws-load-balancer-controller-${local.lbc_upstream_version}.json"))
  # Upstream's actions this policy leaves out: IAM server certificates (certificates come from ACM),
  # WAF Classic (retired; the web ACL is WAFv2) and Shield Advanced protections (no subscription).
  lbc_omitted_actions = [
    "iam:ListServerCertificates", "iam:GetServerCertificate",
    "waf-regional:GetWebACL", "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL", "waf-regional:DisassociateWebACL",
    "shield:DescribeProtection", "shield:CreateProtection", "shield:DeleteProtection",
  ]
  # And the one it adds: the alb.ingress.kubernetes.io/wafv2-acl-name annotation finds the web ACL by name.
  lbc_added_actions = ["wafv2:ListWebACLs"]
  lb_arns = {
    app         = "arn:${local.partition}:elasticloadbalancing:*:*:loadbalancer/app/*/*"
    net         = "arn:${local.partition}:elasticloadbalancing:*:*:loadbalancer/net/*/*"
    targetgroup = "arn:${local.partition}:elasticloadbalancing:*:*:targetgroup/*/*"
  }
  listener_arns_by_type = {
    app           = local.lb_arns["app"]
    net           = local.lb_arns["net"]
    listener_app  = "arn:${local.partition}:elasticloadbalancing:*:*:listener/app/*/*/*"
    listener_net  = "arn:${local.partition}:elasticloadbalancing:*:*:listener/net/*/*/*"
    rule_app      = "arn:${local.partition}:elasticloadbalancing:*:*:listener-rule/app/*/*/*/*"
    rule_net      = "arn:${local.partition}:elasticloadbalancing:*:*:listener-rule/net/*/*/*/*"
    target_groups = local.lb_arns["targetgroup"]
  }
  listener_arns    = values(local.listener_arns_by_type)
  security_groups  = "arn:${local.partition}:ec2:*:*:security-group/*"
  own_lbc_resource = { StringEquals = { "aws:ResourceTag/${local.lbc_tag}" = [local.name] } }
  own_lbc_request  = { StringEquals = { "aws:RequestTag/${local.lbc_tag}" = [local.name] } }
  # A resource of this cluster, in a request that does not set the tag itself (so it cannot be moved
  # to another cluster, or taken by this one).
  own_lbc_resource_unless_retagged = {
    StringEquals = { "aws:ResourceTag/${local.lbc_tag}" = [local.name] }
    Null         = { "aws:RequestTag/${local.lbc_tag}" = "true" }
  }

  policy_statements = {
    # External Secrets: this cluster's secrets and the RDS-managed master secret, nothing else.
    "secrets-read" = [
      {
        Sid      = "ReadClusterSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = ["arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${local.secret_prefix}*", module.database.master_user_secret_arn]
      },
      {
        Sid      = "FindTheRdsSecretByTag"
        Effect   = "Allow"
        Action   = ["secretsmanager:ListSecrets"]
        Resource = ["*"] # ListSecrets has no resource-level permissions
      },
      {
        Sid       = "DecryptThem"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = distinct([module.secrets.kms_key_arn, module.database.kms_key_arn])
        Condition = { StringEquals = { "kms:ViaService" = ["secretsmanager.${local.region}.amazonaws.com"] } }
      },
    ]

    # Airflow: its own prefix of the logs bucket, with the bucket's key; and the connections and
    # variables of its Secrets Manager secrets backend (apps/airflow/values.yaml [secrets]), only.
    "airflow-logs-and-secrets" = [
      {
        Sid    = "ReadSecretsBackend"
        Effect = "Allow"
        Action = ["secretsmanager:GetSecretValue"]
        Resource = [
          "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${local.secret_prefix}airflow/connections/*",
          "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${local.secret_prefix}airflow/variables/*",
        ]
      },
      {
        Sid       = "DecryptSecretsBackend"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = [module.secrets.kms_key_arn]
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.amazonaws.com" } }
      },
      {
        Sid       = "ListTheLogPrefix"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = [module.storage.bucket_arn]
        Condition = { StringLike = { "s3:prefix" = ["airflow", "airflow/*"] } }
      },
      {
        Sid      = "ReadWriteLogs"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
        Resource = ["${module.storage.bucket_arn}/airflow/*"]
      },
      {
        Sid      = "UseTheBucketKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = [module.storage.kms_key_arn]
      },
    ]

    # external-dns: records in the environment's zone only.
    "route53-records" = [
      {
        Sid      = "ChangeRecordsInTheZone"
        Effect   = "Allow"
        Action   = ["route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets", "route53:ListTagsForResources"]
        Resource = [data.aws_route53_zone.public.arn]
      },
      {
        Sid      = "FindTheZone"
        Effect   = "Allow"
        Action   = ["route53:ListHostedZones", "route53:ListHostedZonesByName"]
        Resource = ["*"] # listing zones has no resource-level permissions
      },
    ]

    # AWS Load Balancer Controller: upstream's policy for the version the clusters pin
    # (policies/aws-load-balancer-controller-v3.5.0.json, docs/install/iam_policy.json at tag v3.5.0),
    # statement by statement, in its order. Upstream's tag conditions only ask that a resource carry
    # some cluster's elbv2.k8s.aws/cluster tag; here the tag must name this cluster. Where upstream
    # grants a write on "*" without a condition, the statement names the resource types it acts on
    # or asks for this cluster's tag. What is left out and what is added: README.md.
    "load-balancer-controller" = [
      {
        Sid       = "ServiceLinkedRole"
        Effect    = "Allow"
        Action    = ["iam:CreateServiceLinkedRole"]
        Resource  = ["*"]
        Condition = { StringEquals = { "iam:AWSServiceName" = ["elasticloadbalancing.amazonaws.com"] } }
      },
      {
        Sid    = "Describe"
        Effect = "Allow"
        Action = [
          "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
          "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
          "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
          "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:GetCoipPoolUsage",
          "ec2:DescribeCoipPools", "ec2:GetSecurityGroupsForVpc", "ec2:DescribeIpamPools",
          "ec2:DescribeRouteTables",
          "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
          "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
          "elasticloadbalancing:DescribeSSLPolicies", "elasticloadbalancing:DescribeRules",
          "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
          "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeTags",
          "elasticloadbalancing:DescribeTrustStores", "elasticloadbalancing:DescribeListenerAttributes",
          "elasticloadbalancing:DescribeCapacityReservation",
        ]
        Resource = ["*"] # Describe calls have no resource-level permissions
      },
      {
        Sid    = "ReadCertificatesAndWebAcls"
        Effect = "Allow"
        Action = [
          "cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate",
          "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:ListWebACLs", "shield:GetSubscriptionState",
        ]
        Resource = ["*"] # read-only; ListWebACLs resolves the wafv2-acl-name annotation
      },
      {
        Sid      = "AssociateWebAcls"
        Effect   = "Allow"
        Action   = ["wafv2:AssociateWebACL", "wafv2:DisassociateWebACL"]
        Resource = [local.lb_arns["app"], "arn:${local.partition}:wafv2:${local.region}:${local.account_id}:regional/webacl/*/*"]
      },
      {
        Sid       = "OpenTargetPorts"
        Effect    = "Allow"
        Action    = ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]
        Resource  = [local.security_groups]
        Condition = local.own_lbc_resource
      },
      {
        Sid       = "CreateSecurityGroups"
        Effect    = "Allow"
        Action    = ["ec2:CreateSecurityGroup"]
        Resource  = ["*"]
        Condition = local.own_lbc_request
      },
      {
        Sid      = "TagNewSecurityGroups"
        Effect   = "Allow"
        Action   = ["ec2:CreateTags"]
        Resource = [local.security_groups]
        Condition = {
          StringEquals = { "ec2:CreateAction" = ["CreateSecurityGroup"], "aws:RequestTag/${local.lbc_tag}" = [local.name] }
        }
      },
      {
        Sid       = "RetagOwnSecurityGroups"
        Effect    = "Allow"
        Action    = ["ec2:CreateTags", "ec2:DeleteTags"]
        Resource  = [local.security_groups]
        Condition = local.own_lbc_resource_unless_retagged
      },
      {
        # Not the node security group, which carries this cluster's tag for OpenTargetPorts.
        Sid      = "DeleteOwnSecurityGroups"
        Effect   = "Allow"
        Action   = ["ec2:DeleteSecurityGroup"]
        Resource = [local.security_groups]
        Condition = {
          StringEquals = { "aws:ResourceTag/${local.lbc_tag}" = [local.name] }
          Null         = { "aws:ResourceTag/karpenter.sh/discovery" = "true" }
        }
      },
      {
        Sid       = "CreateLoadBalancers"
        Effect    = "Allow"
        Action    = ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"]
        Resource  = ["*"]
        Condition = local.own_lbc_request
      },
      {
        Sid    = "ListenersAndRules"
        Effect = "Allow"
        Action = [
          "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
          "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule",
        ]
        Resource = local.listener_arns
      },
      {
        Sid       = "RetagOwnLoadBalancers"
        Effect    = "Allow"
        Action    = ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"]
        Resource  = values(local.lb_arns)
        Condition = local.own_lbc_resource_unless_retagged
      },
      {
        Sid      = "TagListenersAndRules"
        Effect   = "Allow"
        Action   = ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"]
        Resource = [for key in ["listener_app", "listener_net", "rule_app", "rule_net"] : local.listener_arns_by_type[key]]
      },
      {
        Sid    = "ChangeOwnLoadBalancers"
        Effect = "Allow"
        Action = [
          "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
          "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
          "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
          "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
          "elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:ModifyCapacityReservation",
          "elasticloadbalancing:ModifyIpPools",
        ]
        Resource  = ["*"]
        Condition = local.own_lbc_resource
      },
      {
        # Tags on a load balancer or target group only as it is created, and only this cluster's.
        Sid      = "TagNewLoadBalancers"
        Effect   = "Allow"
        Action   = ["elasticloadbalancing:AddTags"]
        Resource = values(local.lb_arns)
        Condition = {
          StringEquals = {
            "elasticloadbalancing:CreateAction" = ["CreateTargetGroup", "CreateLoadBalancer"]
            "aws:RequestTag/${local.lbc_tag}"   = [local.name]
          }
        }
      },
      {
        Sid       = "RegisterTargets"
        Effect    = "Allow"
        Action    = ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
        Resource  = [local.lb_arns["targetgroup"]]
        Condition = local.own_lbc_resource
      },
      {
        Sid    = "ChangeListenersAndRules"
        Effect = "Allow"
        Action = [
          "elasticloadbalancing:SetWebAcl", "elasticloadbalancing:ModifyListener",
          "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
          "elasticloadbalancing:ModifyRule", "elasticloadbalancing:SetRulePriorities",
        ]
        Resource = local.listener_arns
      },
    ]
  }

  policy_documents = {
    for key, statements in local.policy_statements : key => jsonencode({ Version = "2012-10-17", Statement = statements })
  }
}
