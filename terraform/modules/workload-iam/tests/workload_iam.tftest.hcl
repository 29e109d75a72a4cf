# Unit tests: plan only, against a mocked AWS provider. Role ARNs are fixed during the plan so that
# each association can be checked against its role.

mock_provider "aws" {
  mock_resource "aws_iam_role" {
    override_during = plan
    defaults        = { arn = "arn:aws:iam::111111111111:role/mocked" }
  }
}

variables {
  cluster_name = "airflow-dev"
  workloads = {
    "external-secrets" = {
      namespace       = "external-secrets"
      service_account = "external-secrets"
      policy_json = jsonencode({
        Version = "2012-10-17"
        Statement = [
          { Sid = "Read", Effect = "Allow", Action = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], Resource = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:airflow-dev/*" },
          { Sid = "Find", Effect = "Allow", Action = "secretsmanager:ListSecrets", Resource = "*" },
        ]
      })
    }
    "airflow-worker" = {
      namespace       = "airflow"
      service_account = "airflow-worker"
      policy_json = jsonencode({
        Version = "2012-10-17"
        Statement = [
          { Effect = "Allow", Action = ["s3:PutObject", "s3:GetObject"], Resource = "arn:aws:s3:::airflow-dev-logs-111111111111/airflow/*" },
          { Effect = "Allow", Action = "s3:ListBucket", Resource = "arn:aws:s3:::airflow-dev-logs-111111111111" },
        ]
      })
    }
    "airflow-scheduler" = {
      namespace       = "airflow"
      service_account = "airflow-scheduler"
      policy_json = jsonencode({
        Version   = "2012-10-17"
        Statement = { Effect = "Allow", Action = "s3:ListBucket", Resource = "arn:aws:s3:::airflow-dev-logs-111111111111" }
      })
    }
  }
}

run "roles_and_associations" {
  command = plan

  assert {
    condition     = output.role_names == { "airflow-scheduler" = "airflow-dev-airflow-scheduler", "airflow-worker" = "airflow-dev-airflow-worker", "external-secrets" = "airflow-dev-external-secrets" }
    error_message = "Each role must be named <cluster>-<workload key>."
  }

  assert {
    condition     = alltrue([for r in aws_iam_role.this : jsondecode(r.assume_role_policy).Statement[0].Principal == { Service = "pods.eks.amazonaws.com" }])
    error_message = "Every role must trust the EKS Pod Identity service."
  }

  assert {
    condition     = alltrue([for r in aws_iam_role.this : toset(jsondecode(r.assume_role_policy).Statement[0].Action) == toset(["sts:AssumeRole", "sts:TagSession"]) && length(jsondecode(r.assume_role_policy).Statement) == 1])
    error_message = "The trust policy allows exactly sts:AssumeRole and sts:TagSession, in one statement."
  }

  assert {
    condition = jsondecode(aws_iam_role.this["airflow-worker"].assume_role_policy).Statement[0].Condition.StringEquals == {
      "aws:RequestTag/eks-cluster-name"           = "airflow-dev"
      "aws:RequestTag/kubernetes-namespace"       = "airflow"
      "aws:RequestTag/kubernetes-service-account" = "airflow-worker"
    }
    error_message = "A role must be usable only by its own cluster, namespace and service account."
  }

  assert {
    condition     = alltrue([for k, p in aws_iam_role_policy.this : jsondecode(p.policy) == jsondecode(var.workloads[k].policy_json) && p.role == "airflow-dev-${k}"])
    error_message = "Each role carries its workload's policy inline, unchanged."
  }

  assert {
    condition = alltrue(flatten([
      for p in aws_iam_role_policy.this : [
        for s in flatten([jsondecode(p.policy).Statement]) : !(contains(flatten([s.Action]), "*") && contains(flatten([s.Resource]), "*"))
      ]
    ]))
    error_message = "No inline policy may allow action * on resource *."
  }

  assert {
    condition     = { for k, a in aws_eks_pod_identity_association.this : k => "${a.cluster_name}:${a.namespace}/${a.service_account}" } == { "airflow-scheduler" = "airflow-dev:airflow/airflow-scheduler", "airflow-worker" = "airflow-dev:airflow/airflow-worker", "external-secrets" = "airflow-dev:external-secrets/external-secrets" }
    error_message = "Each workload must be bound to its namespace and service account in this cluster."
  }

  assert {
    condition     = alltrue([for k, a in aws_eks_pod_identity_association.this : a.role_arn == aws_iam_role.this[k].arn])
    error_message = "Each association must bind the workload's own role."
  }

  assert {
    condition     = output.associations["external-secrets"] == { namespace = "external-secrets", service_account = "external-secrets" } && length(output.associations) == 3
    error_message = "The associations output feeds the contract check: key => namespace and service account."
  }

  assert {
    condition     = alltrue([for r in aws_iam_role.this : r.max_session_duration == 3600 && r.permissions_boundary == null && r.path == "/"])
    error_message = "Defaults: one-hour sessions, no boundary, root path."
  }
}

run "other_cluster_with_boundary" {
  command = plan

  variables {
    cluster_name             = "airflow-prod"
    permissions_boundary_arn = "arn:aws:iam::333333333333:policy/workload-boundary"
  }

  assert {
    condition     = aws_iam_role.this["external-secrets"].name == "airflow-prod-external-secrets" && jsondecode(aws_iam_role.this["external-secrets"].assume_role_policy).Statement[0].Condition.StringEquals["aws:RequestTag/eks-cluster-name"] == "airflow-prod"
    error_message = "Names and trust follow the cluster."
  }

  assert {
    condition     = alltrue([for r in aws_iam_role.this : r.permissions_boundary == "arn:aws:iam::333333333333:policy/workload-boundary"])
    error_message = "The permissions boundary is set on every role when given."
  }
}

run "rejects_admin_policy" {
  command = plan

  variables {
    workloads = {
      "too-powerful" = {
        namespace       = "airflow"
        service_account = "airflow-worker"
        policy_json     = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = "*", Resource = "*" }] })
      }
    }
  }

  expect_failures = [var.workloads]
}

run "rejects_admin_policy_in_lists_and_single_statement" {
  command = plan

  variables {
    workloads = {
      "listed" = {
        namespace       = "airflow"
        service_account = "airflow-worker"
        policy_json     = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Allow", Action = ["s3:GetObject"], Resource = "arn:aws:s3:::b/*" }, { Effect = "Allow", Action = ["s3:GetObject", "*"], Resource = ["*"] }] })
      }
      "single" = {
        namespace       = "airflow"
        service_account = "airflow-scheduler"
        policy_json     = jsonencode({ Version = "2012-10-17", Statement = { Effect = "Allow", Action = "*", Resource = ["*"] } })
      }
    }
  }

  expect_failures = [var.workloads]
}

run "rejects_invalid_json" {
  command = plan

  variables {
    workloads = {
      "broken" = {
        namespace       = "airflow"
        service_account = "airflow-worker"
        policy_json     = "{\"Version\": \"2012-10-17\", \"Statement\": ["
      }
    }
  }

  expect_failures = [var.workloads]
}

run "rejects_duplicate_service_account_and_long_name" {
  command = plan

  variables {
    cluster_name = "airflow-dev"
    workloads = {
      "a"                                                           = { namespace = "airflow", service_account = "airflow-worker", policy_json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
      "b"                                                           = { namespace = "airflow", service_account = "airflow-worker", policy_json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
      "a-workload-key-long-enough-to-break-the-iam-role-name-limit" = { namespace = "airflow", service_account = "other", policy_json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
    }
  }

  expect_failures = [var.workloads]
}

run "allows_deny_everything" {
  command = plan

  variables {
    workloads = {
      "locked" = {
        namespace       = "airflow"
        service_account = "airflow-worker"
        policy_json     = jsonencode({ Version = "2012-10-17", Statement = [{ Effect = "Deny", Action = "*", Resource = "*" }] })
      }
    }
  }

  assert {
    condition     = length(aws_iam_role.this) == 1
    error_message = "Only Allow statements are refused; a Deny on * is fine."
  }
}
