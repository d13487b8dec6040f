// GraphiQL with the explorer plugin against this server: queries and mutations over HTTP at
// /graphql, subscriptions over graphql-transport-ws at the same path. The headers editor's
// headers (`{"Authorization": "Bearer <accessToken>"}`) go with every request, and GraphiQL
// sends them as the WebSocket's connection_init payload, which the server reads the token from.
// The document is kept in the page's URL (`?q=`), so that a link opens it; variables and headers
// are not (they may hold a password or a token), GraphiQL keeps them in the browser's storage.
(function () {
  "use strict";

  const endpoint = new URL(window.location.pathname, window.location.href);
  const subscriptionUrl = new URL(endpoint);
  subscriptionUrl.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";

  // `q`, not `query`: a GET with `query` is an operation, not this page.
  const shared = new URLSearchParams(window.location.search);
  function remember(value) {
    if (value) shared.set("q", value);
    else shared.delete("q");
    const search = shared.toString();
    window.history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  const fetcher = GraphiQL.createFetcher({ url: endpoint.toString(), subscriptionUrl: subscriptionUrl.toString() });
  const explorer = GraphiQLPluginExplorer.explorerPlugin();

  function Page() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
      query: shared.get("q") || undefined,
      onEditQuery: remember,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(Page));
})();
