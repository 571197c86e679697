package app

// examples are the one or two lines each command's help ends with.
func examples(command string) []string {
	switch command {
	case "inspect":
		return []string{"runner inspect wandb/offline-run-20260101_120000-abc123", "runner inspect --json run-abc123.wandb"}
	case "daemon":
		return []string{"runner daemon --watch /workspace", "runner daemon --watch /workspace --gpus fake:4 --no-upload",
			"runner daemon --executor slurm --watch /shared/wandb --poll 30s"}
	case "backfill":
		return []string{"runner backfill /workspace", "runner backfill /workspace --upload --dry-run"}
	case "runs":
		return []string{"runner runs --state failed", "runner runs --project pde --json"}
	case "sync":
		return []string{"runner sync abc123", "runner sync --retry"}
	case "status":
		return []string{"runner status", "runner status --json"}
	case "skip":
		return []string{`runner skip abc123 --reason "debug run"`}
	case "unskip":
		return []string{"runner unskip abc123"}
	case "doctor":
		return []string{"runner doctor", "runner doctor --watch /workspace --gpus auto"}
	case "backup":
		return []string{"runner backup /backups/ledger-$(date +%F).db"}
	case submitName:
		return []string{"runner submit --gpus 1 --name train python train.py --lr 3e-4",
			"runner submit --sweep grid.yaml --name lr-sweep --gpus 1 -- python train.py",
			"runner submit --executor slurm --gpus 2 --timeout 12h -- python train.py"}
	case "jobs":
		return []string{"runner jobs", "runner jobs --state running --json"}
	case "logs":
		return []string{"runner logs -f 7", "runner logs --tail 50 7"}
	case "cancel":
		return []string{"runner cancel 7 8", "runner cancel --name 'sweep-*'"}
	case "wait":
		return []string{"runner wait 7 && echo done", "runner wait --timeout 2h 104"}
	case "hold":
		return []string{"runner hold 9 10"}
	case "release":
		return []string{"runner release 9"}
	case "requeue":
		return []string{"runner requeue 7", "runner requeue --state failed,cancelled"}
	case "update":
		return []string{"runner update 7 8 --priority 10", "runner update 104 --gpus 2 --timeout 12h"}
	case "report":
		return []string{"runner report --project lab --rank eval/nrmse -o lab.html", "runner report abc123 def456 --metric operator/loss -o ab.html"}
	case "serve":
		return []string{"runner serve --project lab", "runner serve --listen 0.0.0.0:8080 --listen-public"}
	case "clean":
		return []string{"runner clean --before 7d --dry-run", "runner clean --state failed,cancelled"}
	case "pause":
		return []string{"runner pause"}
	case "resume":
		return []string{"runner resume"}
	case "gpus":
		return []string{"runner gpus", "runner gpus --gpus nvml --json"}
	case "metrics":
		return []string{"runner metrics abc123", "runner metrics --json abc123"}
	case "compare":
		return []string{"runner compare abc123 def456", "runner compare abc123 def456 --metric eval/loss"}
	case "leaderboard":
		return []string{"runner leaderboard --metric eval/loss", "runner leaderboard --group lr-sweep --metric eval/acc --top 5"}
	case "regressions":
		return []string{"runner regressions", "runner regressions --since 7d --json"}
	case "check":
		return []string{"runner check abc123", "runner check abc123 --metric eval/loss --baseline 10"}
	case "plot":
		return []string{"runner plot abc123 def456 --metric train/loss", "runner plot --leaderboard --metric eval/acc -o acc.svg"}
	case "gc":
		return []string{"runner gc --dry-run", "runner gc --older-than 7d"}
	case "version":
		return []string{"runner version", "runner version --json"}
	}
	return nil
}
