using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;

namespace TrackMulti.Tests.AppHost;

/// <summary>The app model the AppHost builds for each S3_EMULATOR mode. Nothing is started.</summary>
public sealed class AppModelTests
{
    private static async Task<IDistributedApplicationTestingBuilder> ModelAsync(params string[] args) =>
        await DistributedApplicationTestingBuilder.CreateAsync<Projects.TrackMulti_AppHost>(["PORT=", "TRACKMULTI_DOTENV=", .. args]);

    private static T Resource<T>(IDistributedApplicationTestingBuilder builder, string name) where T : IResource =>
        Assert.IsAssignableFrom<T>(Assert.Single(builder.Resources, r => r.Name == name));

    // Publish-time evaluation turns references into manifest expressions ("{s3.bindings.http.url}"), which says
    // exactly what is wired to what without starting anything. Its replacement (ExecutionConfigurationBuilder)
    // needs a running app's services, hence the obsolete helpers here.
#pragma warning disable CS0618
    private static async Task<Dictionary<string, string>> ManifestEnvironmentAsync(IResourceWithEnvironment resource) =>
        await resource.GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish);

    private static async Task<string[]> ManifestArgumentsAsync(IResourceWithArgs resource) =>
        await resource.GetArgumentValuesAsync(DistributedApplicationOperation.Publish);
#pragma warning restore CS0618

    [Fact]
    public async Task LocalStack_mode_puts_a_pinned_LocalStack_container_on_port_4566_in_front_of_the_Api()
    {
        await using var builder = await ModelAsync("S3_EMULATOR=localstack", "S3_BUCKET_NAME=model-bucket");

        var s3 = Resource<ContainerResource>(builder, "s3");
        var image = Assert.Single(s3.Annotations.OfType<ContainerImageAnnotation>());
        Assert.Equal("localstack/localstack", image.Image);
        Assert.Equal("4.10.0", image.Tag);
        var endpoint = Assert.Single(s3.Annotations.OfType<EndpointAnnotation>());
        Assert.Equal(4566, endpoint.TargetPort);
        Assert.Equal(4566, endpoint.Port); // `aws --endpoint-url http://localhost:4566` as with any LocalStack
        Assert.Equal("http", endpoint.UriScheme);
        Assert.Contains(s3.Annotations.OfType<HealthCheckAnnotation>(), h => h.Key == "s3-bucket");
        Assert.Contains(s3.Annotations.OfType<HealthCheckAnnotation>(), h => h.Key != "s3-bucket"); // /_localstack/health

        var api = Resource<ProjectResource>(builder, "api");
        Assert.Contains(api.Annotations.OfType<WaitAnnotation>(), w => w.Resource == s3);
        var env = await ManifestEnvironmentAsync(api);
        Assert.Equal("{s3.bindings.http.url}", env["AWS_ENDPOINT_URL_S3"]);
        Assert.Equal("{s3-access-key.value}", env["AWS_ACCESS_KEY_ID"]);
        Assert.Equal("{s3-secret-key.value}", env["AWS_SECRET_ACCESS_KEY"]);
        Assert.Equal("{s3-bucket-name.value}", env["S3_BUCKET_NAME"]);
        Assert.True(Resource<ParameterResource>(builder, "s3-access-key").Secret);
        Assert.True(Resource<ParameterResource>(builder, "s3-secret-key").Secret);
        Assert.Equal("model-bucket", await Resource<ParameterResource>(builder, "s3-bucket-name").GetValueAsync(CancellationToken.None));
    }

    [Fact]
    public async Task S3rver_mode_runs_the_npm_emulator_from_the_AppHost_on_a_browsable_folder()
    {
        var data = Path.Combine(Path.GetTempPath(), $"trackmulti-model-{Guid.NewGuid():N}");
        await using var builder = await ModelAsync("S3_EMULATOR=s3rver", $"S3RVER_DATA_DIR={data}");

        var s3 = Resource<ExecutableResource>(builder, "s3");
        Assert.Equal("node", s3.Command);
        var args = await ManifestArgumentsAsync(s3);
        Assert.EndsWith(Path.Combine("node_modules", "s3rver", "bin", "s3rver.js"), args[0]);
        Assert.Equal(data, args[Array.IndexOf(args, "--directory") + 1]);
        Assert.Equal("127.0.0.1", args[Array.IndexOf(args, "--address") + 1]);
        Assert.Contains(s3.Annotations.OfType<HealthCheckAnnotation>(), h => h.Key == "s3-bucket");

        var api = Resource<ProjectResource>(builder, "api");
        Assert.Contains(api.Annotations.OfType<WaitAnnotation>(), w => w.Resource == s3);
        Assert.Equal("{s3.bindings.http.url}", (await ManifestEnvironmentAsync(api))["AWS_ENDPOINT_URL_S3"]);
        Directory.Delete(data, recursive: true);
    }

    [Fact]
    public async Task None_mode_has_no_emulator_and_lets_the_Api_use_real_AWS()
    {
        await using var builder = await ModelAsync("S3_EMULATOR=none", "AWS_REGION=eu-west-1", "AWS_ACCESS_KEY_ID=");

        Assert.DoesNotContain(builder.Resources, r => r.Name == "s3");
        var env = await ManifestEnvironmentAsync(Resource<ProjectResource>(builder, "api"));
        Assert.False(env.ContainsKey("AWS_ENDPOINT_URL_S3"));
        Assert.False(env.ContainsKey("AWS_ACCESS_KEY_ID"));
        Assert.Equal("eu-west-1", await Resource<ParameterResource>(builder, "aws-region").GetValueAsync(CancellationToken.None));
    }

    [Fact]
    public async Task API_REPLICAS_runs_that_many_Api_replicas_on_one_spool_folder_each_with_an_id_of_its_own()
    {
        await using var builder = await ModelAsync("S3_EMULATOR=s3rver", "API_REPLICAS=3", "INSTANCE_ID=");

        var api = Resource<ProjectResource>(builder, "api");
        Assert.Equal(3, Assert.Single(api.Annotations.OfType<ReplicaAnnotation>()).Replicas);
        var environment = await ManifestEnvironmentAsync(api);
        Assert.True(Path.IsPathRooted(environment["SPOOL_DIR"])); // one folder, the same for every replica
        Assert.False(environment.ContainsKey("INSTANCE_ID"));      // so each replica draws its own

        // One INSTANCE_ID for many replicas would have them fight over one folder: refused before anything runs.
        var clash = await Assert.ThrowsAnyAsync<Exception>(() => ModelAsync("S3_EMULATOR=s3rver", "API_REPLICAS=2", "INSTANCE_ID=one"));
        Assert.Contains("INSTANCE_ID=one would name all 2 replicas alike", clash.ToString());
    }

    [Fact]
    public async Task With_nothing_configured_the_defaults_are_the_documented_ones()
    {
        await using var builder = await ModelAsync("S3_EMULATOR=s3rver", "S3_BUCKET_NAME=", "AWS_REGION=", "HARNESS_FME_API_KEY=");

        Assert.Equal("trackmulti-events", await Resource<ParameterResource>(builder, "s3-bucket-name").GetValueAsync(CancellationToken.None));
        Assert.Equal("us-east-1", await Resource<ParameterResource>(builder, "aws-region").GetValueAsync(CancellationToken.None));
        var fmeKey = Resource<ParameterResource>(builder, "fme-api-key");
        Assert.True(fmeKey.Secret);
        Assert.Equal("localhost", await fmeKey.GetValueAsync(CancellationToken.None));

        var web = Resource<ProjectResource>(builder, "web");
        Assert.Equal("{fme-api-key.value}", (await ManifestEnvironmentAsync(web))["HARNESS_FME_API_KEY"]);
        Assert.Contains(web.Annotations.OfType<WaitAnnotation>(), w => w.Resource.Name == "api");
    }

    [Fact]
    public async Task The_seeds_dotenv_file_configures_the_stack_and_the_environment_or_arguments_win()
    {
        var dotenv = Path.Combine(Path.GetTempPath(), $"trackmulti-{Guid.NewGuid():N}.env");
        await File.WriteAllTextAsync(dotenv, """
            # the seed's .env
            HARNESS_FME_API_KEY=client-key-from-dotenv
            AWS_REGION=eu-west-1
            S3_BUCKET_NAME=bucket-from-dotenv
            BATCH_SIZE=50
            S3_EMULATOR=s3rver
            """);
        try
        {
            await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.TrackMulti_AppHost>(
                ["PORT=", $"TRACKMULTI_DOTENV={dotenv}", "AWS_REGION=ap-south-1"]);

            Assert.Equal("bucket-from-dotenv", await Resource<ParameterResource>(builder, "s3-bucket-name").GetValueAsync(CancellationToken.None));
            Assert.Equal("ap-south-1", await Resource<ParameterResource>(builder, "aws-region").GetValueAsync(CancellationToken.None));
            Assert.Equal("client-key-from-dotenv", await Resource<ParameterResource>(builder, "fme-api-key").GetValueAsync(CancellationToken.None));
            Assert.IsType<ExecutableResource>(Resource<IResource>(builder, "s3"));
            Assert.Equal("50", (await ManifestEnvironmentAsync(Resource<ProjectResource>(builder, "api")))["BATCH_SIZE"]);
        }
        finally
        {
            File.Delete(dotenv);
        }
    }

    [Theory]
    [InlineData("true", typeof(ContainerResource))]   // `true info` exits 0: a runtime answers
    [InlineData("false", typeof(ExecutableResource))] // `false info` exits 1: none does
    [InlineData("no-such-runtime-cli", typeof(ExecutableResource))]
    public async Task Auto_mode_picks_LocalStack_only_when_the_container_runtime_answers(string runtimeCli, Type expected)
    {
        await using var builder = await ModelAsync("S3_EMULATOR=auto", $"ASPIRE_CONTAINER_RUNTIME={runtimeCli}");

        Assert.IsType(expected, Resource<IResource>(builder, "s3"));
    }

    [Fact]
    public async Task Real_AWS_keys_reach_the_Api_only_as_secret_parameters()
    {
        await using var builder = await ModelAsync(
            "S3_EMULATOR=none", "AWS_ACCESS_KEY_ID=AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY=not-so-secret", "AWS_SESSION_TOKEN=token");

        var env = await ManifestEnvironmentAsync(Resource<ProjectResource>(builder, "api"));
        Assert.Equal("{aws-access-key-id.value}", env["AWS_ACCESS_KEY_ID"]);
        Assert.Equal("{aws-secret-access-key.value}", env["AWS_SECRET_ACCESS_KEY"]);
        Assert.Equal("{aws-session-token.value}", env["AWS_SESSION_TOKEN"]);
        Assert.All(new[] { "aws-access-key-id", "aws-secret-access-key", "aws-session-token" },
            name => Assert.True(Resource<ParameterResource>(builder, name).Secret));
        Assert.DoesNotContain(env.Values, value => value.Contains("not-so-secret"));
    }

    [Fact]
    public async Task Half_an_AWS_key_pair_is_refused()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ModelAsync("S3_EMULATOR=none", "AWS_ACCESS_KEY_ID=AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY="));

        Assert.Contains("AWS_SECRET_ACCESS_KEY", error.ToString());
    }

    [Fact]
    public async Task A_PORT_from_the_shell_moves_the_page_but_never_the_Api()
    {
        await using var builder = await ModelAsync("S3_EMULATOR=s3rver", "PORT=3000");

        Assert.Equal(3000, Resource<ProjectResource>(builder, "web").Annotations.OfType<EndpointAnnotation>().Single(e => e.Name == "http").Port);
        Assert.Equal("", (await ManifestEnvironmentAsync(Resource<ProjectResource>(builder, "api")))["PORT"]);
    }

#pragma warning disable ASPIREPROBES001 // reading the probes the AppHost declares
    [Theory]
    [InlineData("api")]
    [InlineData("web")]
    public async Task Each_service_declares_readiness_and_liveness_probes_and_readiness_gates_it_locally(string name)
    {
        await using var builder = await ModelAsync("S3_EMULATOR=s3rver");
        var project = Resource<ProjectResource>(builder, name);

        var probes = project.Annotations.OfType<EndpointProbeAnnotation>().ToDictionary(p => p.Type, p => p.Path);
        Assert.Equal("/ready", probes[ProbeType.Readiness]);
        Assert.Equal("/alive", probes[ProbeType.Liveness]);
        // In run mode each probe is also a health check of the resource: WaitFor and the dashboard use them.
        Assert.Equal(
            [$"{name}_http_/alive_200_check", $"{name}_http_/ready_200_check"],
            project.Annotations.OfType<HealthCheckAnnotation>().Select(h => h.Key).Order());
    }
#pragma warning restore ASPIREPROBES001

    [Fact]
    public async Task An_unknown_emulator_mode_is_refused_with_the_choices()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ModelAsync("S3_EMULATOR=minio"));

        Assert.Contains("auto, localstack, s3rver or none", error.ToString());
    }

    [Fact]
    public async Task The_FME_sinks_settings_reach_the_Api_and_its_server_key_is_a_secret_the_Web_never_gets()
    {
        await using var builder = await ModelAsync("S3_EMULATOR=s3rver", "HARNESS_FME_SERVER_KEY=server-key-from-args",
            "FME_FORWARD=all", "FME_EVENTS_URL=http://127.0.0.1:9/api", "FME_MAX_BACKLOG_BYTES=1048576");

        var serverKey = Resource<ParameterResource>(builder, "fme-server-key");
        Assert.True(serverKey.Secret);
        Assert.Equal("server-key-from-args", await serverKey.GetValueAsync(CancellationToken.None));
        var api = await ManifestEnvironmentAsync(Resource<ProjectResource>(builder, "api"));
        Assert.Equal("{fme-server-key.value}", api["HARNESS_FME_SERVER_KEY"]);
        Assert.Equal("{fme-api-key.value}", api["HARNESS_FME_API_KEY"]);
        Assert.Equal(("all", "http://127.0.0.1:9/api", "1048576"), (api["FME_FORWARD"], api["FME_EVENTS_URL"], api["FME_MAX_BACKLOG_BYTES"]));
        Assert.False((await ManifestEnvironmentAsync(Resource<ProjectResource>(builder, "web"))).ContainsKey("HARNESS_FME_SERVER_KEY"));
    }
}
