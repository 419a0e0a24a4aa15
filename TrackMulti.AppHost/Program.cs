using TrackMulti.AppHost;
using TrackMulti.AppHost.S3;

var builder = DistributedApplication.CreateBuilder(args);

var repositoryRoot = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));
builder.Configuration.AddDotEnvFile(DotEnvConfiguration.PathFrom(builder.Configuration, repositoryRoot));
var settings = AppHostSettings.From(builder.Configuration, repositoryRoot);
// Only where the launch profile fixed the stack's addresses (dotnet run); tests and publishing choose their own.
if (builder.ExecutionContext.IsRunMode && builder.Configuration["ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL"] is not null
    && PortsInUse.Taken(PortsInUse.FixedPorts(builder.Configuration, settings)) is { Count: > 0 } taken)
{
    Console.Error.WriteLine(PortsInUse.Describe(taken));
    return 1;
}

var bucket = builder.AddParameter("s3-bucket-name", settings.Bucket, publishValueAsDefault: true);
var region = builder.AddParameter("aws-region", settings.Region, publishValueAsDefault: true);
var fmeApiKey = builder.AddParameter("fme-api-key",
    () => builder.Configuration["HARNESS_FME_API_KEY"] is { Length: > 0 } key ? key : AppHostSettings.DefaultFmeKey, secret: true);
// Server side only: the Api forwards to FME with it when set (else with the client-side key).
var fmeServerKey = builder.AddParameter("fme-server-key", () => builder.Configuration["HARNESS_FME_SERVER_KEY"] ?? "", secret: true);

// The Api's own keys: only the Web (server side) knows them, so the local stack runs with keys on.
var ingestApiKey = builder.AddApiKeyParameter("ingest-api-key", "INGEST_API_KEY");
var adminApiKey = builder.AddApiKeyParameter("admin-api-key", "ADMIN_API_KEY");

var api = builder.AddProject<Projects.TrackMulti_Api>("api")
    .WithEnvironment("S3_BUCKET_NAME", bucket)
    .WithEnvironment("AWS_REGION", region)
    .WithEnvironment("INGEST_API_KEY", ingestApiKey)
    .WithEnvironment("ADMIN_API_KEY", adminApiKey)
    .WithEnvironment("HARNESS_FME_API_KEY", fmeApiKey)
    .WithEnvironment("HARNESS_FME_SERVER_KEY", fmeServerKey)
    .WithPassThroughSettings(builder.Configuration, ApiSettings.PassedThrough)
    .WithHealthEndpoints();
if (settings.ApiReplicas > 1)
{
    // One spool folder for all: each replica owns the sub-folder of its (random) INSTANCE_ID and adopts those left behind.
    api.WithReplicas(settings.ApiReplicas);
}

if (builder.ExecutionContext.IsRunMode)
{
    // A deployment mounts its own volume and sets SPOOL_DIR there; locally the spool sits beside the s3rver data.
    api.WithEnvironment("SPOOL_DIR", settings.SpoolDirectory)
        // PORT is the page's port here; a PORT inherited from the shell must not move the Api onto it.
        .WithEnvironment("PORT", "");
}

if (builder.AddS3Emulator(settings) is { } emulator)
{
    api.WithEnvironment("AWS_ENDPOINT_URL_S3", emulator.Endpoint)
        .WithEnvironment("AWS_ACCESS_KEY_ID", emulator.AccessKey)
        .WithEnvironment("AWS_SECRET_ACCESS_KEY", emulator.SecretKey)
        .WaitFor(emulator.Resource);
}
else
{
    api.WithAwsCredentialsFrom(builder);
}

var web = builder.AddProject<Projects.TrackMulti_Web>("web")
    .WithReference(api)
    .WaitFor(api)
    .WithEnvironment("HARNESS_FME_API_KEY", fmeApiKey)
    .WithEnvironment("INGEST_API_KEY", ingestApiKey)
    .WithEnvironment("ADMIN_API_KEY", adminApiKey)
    .WithPassThroughSettings(builder.Configuration, ApiSettings.WebPassedThrough)
    .WithExternalHttpEndpoints()
    .WithHealthEndpoints();

if (settings.WebPort is { } port)
{
    // The seed served its page on PORT; so does the stack.
    web.WithEndpoint("http", endpoint => endpoint.Port = port);
}

builder.Build().Run();
return 0;
