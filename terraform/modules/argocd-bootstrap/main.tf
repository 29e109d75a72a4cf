# Installs Argo CD and hands the cluster over to it: the argo-cd chart at the version and with the
# values the cluster's own Application names, then the root Application and its AppProject. From
# then on Argo CD manages itself from clusters/<env>/apps/argo-cd.yaml; nothing here is typed twice.

locals {
  cluster_dir = "${var.repo_root}/clusters/${var.environment}"
  cluster     = yamldecode(file("${local.cluster_dir}/cluster.yaml"))

  # The same chart source Argo CD will adopt: clusters/<env>/apps/argo-cd.yaml.
  argocd_app   = yamldecode(file("${local.cluster_dir}/apps/argo-cd.yaml"))
  argocd_chart = [for s in local.argocd_app.spec.sources : s if try(s.chart, "") == "argo-cd"][0]
  # "$values/<path>" value files resolve against this repository, as Argo CD resolves them.
  argocd_values = [for f in local.argocd_chart.helm.valueFiles : file("${var.repo_root}/${trimprefix(f, "$values/")}")]

  # The bootstrap AppProject exactly as apps/argo-cd/projects.yaml defines it, so the root adopts it unchanged.
  projects          = yamldecode(file("${var.repo_root}/apps/argo-cd/projects.yaml")).items
  bootstrap_project = [for p in local.projects : p if p.metadata.name == "bootstrap"][0]

  root_application = {
    namespace = "argocd"
    project   = "bootstrap"
    source = {
      repoURL        = local.cluster.gitops.repo_url
      targetRevision = local.cluster.gitops.revision
      path           = "clusters/${var.environment}"
    }
    destination = {
      server    = "https://kubernetes.default.svc"
      namespace = "argocd"
    }
    syncPolicy = {
      automated   = { prune = true, selfHeal = true }
      syncOptions = ["ServerSideApply=true"]
      retry       = { limit = 10, backoff = { duration = "10s", factor = 2, maxDuration = "5m" } }
    }
  }
}

resource "helm_release" "argo_cd" {
  name             = local.argocd_chart.helm.releaseName
  repository       = local.argocd_chart.repoURL
  chart            = local.argocd_chart.chart
  version          = local.argocd_chart.targetRevision
  namespace        = "argocd"
  create_namespace = true
  values           = local.argocd_values
  wait             = true
  timeout          = 900
}

resource "helm_release" "root" {
  name       = "root"
  repository = "https://argoproj.github.io/argo-helm"
  chart      = "argocd-apps"
  version    = var.argocd_apps_chart_version
  namespace  = "argocd"
  values = [yamlencode({
    projects = {
      bootstrap = merge(local.bootstrap_project.spec, {
        namespace   = "argocd"
        annotations = local.bootstrap_project.metadata.annotations
      })
    }
    applications = { root = local.root_application }
  })]

  depends_on = [helm_release.argo_cd]
}
