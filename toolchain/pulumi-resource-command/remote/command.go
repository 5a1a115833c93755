package remote

import (
	"context"

	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Command runs shell commands on a remote host over SSH (`command:remote:Command`).
type Command struct{}

func (c *Command) Annotate(a infer.Annotator) {
	a.Describe(&c, "A command run on a remote host over SSH when the resource is created, updated or deleted.")
}

// CommandInputs is the input shape of `command:remote:Command` in @pulumi/command 1.2.1.
type CommandInputs struct {
	Triggers               *[]any            `pulumi:"triggers,optional" provider:"replaceOnChanges"`
	Create                 *string           `pulumi:"create,optional"`
	Update                 *string           `pulumi:"update,optional"`
	Delete                 *string           `pulumi:"delete,optional"`
	Stdin                  *string           `pulumi:"stdin,optional"`
	Logging                *Logging          `pulumi:"logging,optional"`
	Connection             *Connection       `pulumi:"connection"        provider:"secret"`
	Environment            map[string]string `pulumi:"environment,optional"`
	AddPreviousOutputInEnv *bool             `pulumi:"addPreviousOutputInEnv,optional"`
}

func (c *CommandInputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Triggers, "Any change to these values replaces the resource.")
	a.Describe(&c.Create, "The command to run when the resource is created.")
	a.Describe(&c.Update, "The command to run when an input changes. If unset, `create` runs instead.")
	a.Describe(&c.Delete, "The command to run when the resource is deleted. "+
		"PULUMI_COMMAND_STDOUT and PULUMI_COMMAND_STDERR hold the outputs of the last create or update.")
	a.Describe(&c.Stdin, "Text passed to the command's standard input.")
	a.Describe(&c.Logging, "Which output streams are logged while the command runs. Defaults to stdoutAndStderr. "+
		"With \"none\" the output appears in neither the log nor error messages.")
	a.Describe(&c.Connection, "How to connect to the remote host.")
	a.Describe(&c.Environment, "Environment variables for the command, set through the SSH session "+
		"(the server must accept them with AcceptEnv).")
	a.Describe(&c.AddPreviousOutputInEnv, "Whether update and delete see the previous stdout and stderr as "+
		"PULUMI_COMMAND_STDOUT and PULUMI_COMMAND_STDERR. Defaults to true.")
}

// CommandOutputs is the state of `command:remote:Command`: its inputs plus the last run's output.
type CommandOutputs struct {
	CommandInputs
	Stdout string `pulumi:"stdout"`
	Stderr string `pulumi:"stderr"`
}

func (c *CommandOutputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Stdout, "The standard output of the last create or update command.")
	a.Describe(&c.Stderr, "The standard error of the last create or update command.")
}

var (
	_ infer.CustomResource[CommandInputs, CommandOutputs] = (*Command)(nil)
	_ infer.CustomUpdate[CommandInputs, CommandOutputs]   = (*Command)(nil)
	_ infer.CustomDelete[CommandOutputs]                  = (*Command)(nil)
)

// run executes cmd with the settings in state; previous outputs come from state as well.
func (state *CommandOutputs) run(ctx context.Context, cmd string) error {
	spec := runSpec{
		Connection:  state.Connection,
		Command:     cmd,
		Environment: state.Environment,
		Logging:     state.Logging,
	}
	if state.Stdin != nil {
		spec.Stdin = *state.Stdin
	}
	if state.AddPreviousOutputInEnv == nil || *state.AddPreviousOutputInEnv {
		spec.PrevStdout, spec.PrevStderr = state.Stdout, state.Stderr
	}
	stdout, stderr, err := runRemote(ctx, spec)
	if err != nil {
		return err
	}
	state.Stdout, state.Stderr = stdout, stderr
	return nil
}

func (*Command) Create(ctx context.Context, req infer.CreateRequest[CommandInputs]) (infer.CreateResponse[CommandOutputs], error) {
	state := CommandOutputs{CommandInputs: req.Inputs}
	id, err := resource.NewUniqueHex(req.Name, 8, 0)
	if err != nil {
		return infer.CreateResponse[CommandOutputs]{}, err
	}
	if req.DryRun || req.Inputs.Create == nil {
		return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, nil
	}
	if err := state.run(ctx, *req.Inputs.Create); err != nil {
		// A plain error (no ID, no partial state): the engine records nothing, so the next
		// `up` runs create again.
		return infer.CreateResponse[CommandOutputs]{}, err
	}
	return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, nil
}

func (*Command) Update(ctx context.Context, req infer.UpdateRequest[CommandInputs, CommandOutputs]) (infer.UpdateResponse[CommandOutputs], error) {
	state := CommandOutputs{CommandInputs: req.Inputs, Stdout: req.State.Stdout, Stderr: req.State.Stderr}
	if req.DryRun {
		return infer.UpdateResponse[CommandOutputs]{Output: state}, nil
	}
	cmd := req.Inputs.Update
	if cmd == nil {
		cmd = req.Inputs.Create
	}
	if cmd == nil {
		return infer.UpdateResponse[CommandOutputs]{Output: state}, nil
	}
	if err := state.run(ctx, *cmd); err != nil {
		// The engine keeps the previous state.
		return infer.UpdateResponse[CommandOutputs]{}, err
	}
	return infer.UpdateResponse[CommandOutputs]{Output: state}, nil
}

func (*Command) Delete(ctx context.Context, req infer.DeleteRequest[CommandOutputs]) (infer.DeleteResponse, error) {
	state := req.State
	if state.Delete == nil {
		return infer.DeleteResponse{}, nil
	}
	return infer.DeleteResponse{}, state.run(ctx, *state.Delete)
}
