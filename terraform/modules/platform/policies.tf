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
  lbc_tag   = "elbv2.k8s.aws/cluster"
  lb_arns = [
    "arn:${local.partition}:elasticloadbalancing:*:*:loadbalancer/app/*/*",
    "arn:${local.partition}:elasticloadbalancing:*:*:loadbalancer/net/*/*",
    "arn:${local.partition}:elasticloadbalancing:*:*:targetgroup/*/*",
  ]
  own_lbc_resource = { StringEquals = { "aws:ResourceTag/${local.lbc_tag}" = [local.name] } }
  own_lbc_request  = { StringEquals = { "aws:RequestTag/${local.lbc_tag}" = [local.name] } }

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

    # AWS Load Balancer Controller: reads the network; changes only the load balancers, target
    # groups and security groups that carry this cluster's tag.
    "load-balancer-controller" = [
      {
        Sid       = "ServiceLinkedRole"
        Effect    = "Allow"
        Action    = ["iam:CreateServiceLinkedRole"]
        Resource  = ["*"]
        Condition = { StringEquals = { "iam:AWSServiceName" = ["elasticloadbalancing.amazonaws.com"] } }
      },
      {
        Sid    = "Read"
        Effect = "Allow"
        Action = [
          "ec2:DescribeAccountAttributes", "ec2:DescribeAddresses", "ec2:DescribeAvailabilityZones",
          "ec2:DescribeInternetGateways", "ec2:DescribeVpcs", "ec2:DescribeVpcPeeringConnections",
          "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
          "ec2:DescribeNetworkInterfaces", "ec2:DescribeTags", "ec2:DescribeCoipPools",
          "ec2:GetCoipPoolUsage", "ec2:DescribeRouteTables", "ec2:GetSecurityGroupsForVpc",
          "ec2:DescribeIpamPools",
          "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
          "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerCertificates",
          "elasticloadbalancing:DescribeListenerAttributes", "elasticloadbalancing:DescribeSSLPolicies",
          "elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTargetGroups",
          "elasticloadbalancing:DescribeTargetGroupAttributes", "elasticloadbalancing:DescribeTargetHealth",
          "elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTrustStores",
          "elasticloadbalancing:DescribeCapacityReservation",
          "acm:ListCertificates", "acm:DescribeCertificate", "cognito-idp:DescribeUserPoolClient",
          "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "shield:GetSubscriptionState",
        ]
        Resource = ["*"] # Describe and List calls have no resource-level permissions
      },
      {
        Sid       = "CreateOwnSecurityGroups"
        Effect    = "Allow"
        Action    = ["ec2:CreateSecurityGroup"]
        Resource  = ["*"]
        Condition = local.own_lbc_request
      },
      {
        Sid       = "TagNewSecurityGroups"
        Effect    = "Allow"
        Action    = ["ec2:CreateTags"]
        Resource  = ["arn:${local.partition}:ec2:*:*:security-group/*"]
        Condition = { StringEquals = { "ec2:CreateAction" = ["CreateSecurityGroup"] } }
      },
      {
        Sid       = "ChangeOwnSecurityGroups"
        Effect    = "Allow"
        Action    = ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup", "ec2:CreateTags", "ec2:DeleteTags"]
        Resource  = ["arn:${local.partition}:ec2:*:*:security-group/*"]
        Condition = local.own_lbc_resource
      },
      {
        Sid       = "CreateOwnLoadBalancers"
        Effect    = "Allow"
        Action    = ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:AddTags"]
        Resource  = ["*"]
        Condition = local.own_lbc_request
      },
      {
        Sid    = "ChangeOwnLoadBalancers"
        Effect = "Allow"
        Action = [
          "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:SetIpAddressType",
          "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
          "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:ModifyTargetGroup",
          "elasticloadbalancing:ModifyTargetGroupAttributes", "elasticloadbalancing:DeleteTargetGroup",
          "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
          "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags",
          "elasticloadbalancing:ModifyListenerAttributes", "elasticloadbalancing:ModifyCapacityReservation",
        ]
        Resource  = local.lb_arns
        Condition = local.own_lbc_resource
      },
      {
        Sid    = "ListenersAndRules"
        Effect = "Allow"
        Action = [
          "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
          "elasticloadbalancing:ModifyListener", "elasticloadbalancing:CreateRule",
          "elasticloadbalancing:DeleteRule", "elasticloadbalancing:ModifyRule",
          "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
          "elasticloadbalancing:SetWebAcl", "wafv2:AssociateWebACL", "wafv2:DisassociateWebACL",
        ]
        Resource = [
          "arn:${local.partition}:elasticloadbalancing:*:*:loadbalancer/app/*/*",
          "arn:${local.partition}:elasticloadbalancing:*:*:listener/app/*/*/*",
          "arn:${local.partition}:elasticloadbalancing:*:*:listener-rule/app/*/*/*/*",
          "arn:${local.partition}:wafv2:*:*:regional/webacl/*/*",
        ]
      },
    ]
  }

  policy_documents = {
    for key, statements in local.policy_statements : key => jsonencode({ Version = "2012-10-17", Statement = statements })
  }
}
